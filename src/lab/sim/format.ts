// Output helpers shared by the emulated commands: Go's text/tabwriter, go-units/apimachinery durations.

/**
 * Go text/tabwriter with flags 0: every tab-terminated cell is padded to its column's width
 * (max(cell width + padding, minwidth)); the last cell of a line (not tab-terminated) is not padded.
 * Lines are given already split on \t; a trailing empty string means the line ended with a tab.
 */
export function tabwrite(lines: string[][], minwidth: number, padding: number): string {
  // column widths per block of consecutive lines having that column as a terminated cell
  const out: string[] = lines.map(() => '');
  const cellsDone = lines.map(() => 0);
  const maxCols = Math.max(0, ...lines.map((l) => l.length - 1));
  const widths: number[][] = lines.map(() => []);
  for (let col = 0; col < maxCols; col++) {
    let i = 0;
    while (i < lines.length) {
      if ((lines[i]!.length - 1) <= col) { i++; continue; }
      let j = i;
      let w = 0;
      while (j < lines.length && lines[j]!.length - 1 > col) {
        w = Math.max(w, [...lines[j]![col]!].length + padding);
        j++;
      }
      w = Math.max(w, minwidth);
      for (let k = i; k < j; k++) widths[k]![col] = w;
      i = j;
    }
  }
  lines.forEach((cells, i) => {
    let s = '';
    cells.forEach((c, col) => {
      if (col < cells.length - 1) s += c + ' '.repeat(Math.max(0, widths[i]![col]! - [...c].length));
      else s += c;
    });
    out[i] = s;
    cellsDone[i] = cells.length;
  });
  return out.map((l) => l + '\n').join('');
}

/** k8s.io/apimachinery duration.ShortHumanDuration */
export function shortHumanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.trunc(ms / 60000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.trunc(ms / 3600000);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.trunc(hours / 24)}d`;
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** k8s.io/apimachinery duration.HumanDuration (kubectl's AGE column) */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(seconds / 3600);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** Go's time.Duration String() of a whole number of ms: `614h17m36.737s`, `1h0m0s`, `2.5s`, `300ms` */
export function goDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(Math.round(ms));
  if (a === 0) return '0s';
  if (a < 1000) return `${sign}${a}ms`;
  const h = Math.trunc(a / 3_600_000);
  const m = Math.trunc((a % 3_600_000) / 60_000);
  const rest = a % 60_000;
  const frac = String(rest % 1000).padStart(3, '0').replace(/0+$/, '');
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${Math.trunc(rest / 1000)}${frac ? '.' + frac : ''}s`;
}

/** docker/go-units HumanDuration ("About a minute", "2 weeks") */
export function unitsHumanDuration(ms: number): string {
  const s = Math.trunc(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.trunc(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.trunc(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.trunc(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.trunc(h / 24 / 30)} months`;
  return `${Math.trunc(h / 24 / 365)} years`;
}

/** kubeadm check-expiration date: `Jan 02, 2006 15:04 MST` in UTC */
export function kubeadmDate(d: Date): string {
  const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${p(d.getUTCDate())}, ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
}

/** klog header: `E0728 00:52:10.502471    1234 file.go:123] ` */
export function klog(level: 'I' | 'W' | 'E' | 'F', pid: number, where: string, msg: string, at = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const us = p(at.getUTCMilliseconds() * 1000 + Math.floor(Math.random() * 1000), 6);
  return `${level}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())} ${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())}.${us} ${String(pid).padStart(7)} ${where}] ${msg}`;
}

/** syslog/journal prefix: `Jul 28 00:52:10 node1 kubelet[1234]: ` */
export function journalPrefix(at: Date, host: string, ident: string): string {
  const mon = at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${p(at.getUTCDate())} ${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} ${host} ${ident}: `;
}

/** systemd's timestamp: `Tue 2020-07-28 00:52:10 UTC` */
export function systemdTime(at: Date): string {
  const day = at.toLocaleString('en-US', { weekday: 'short', timeZone: 'UTC' });
  return `${day} ${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** systemd's relative time: `5s ago`, `3min ago`, `1h 2min ago` */
export function systemdAgo(ms: number): string {
  const s = Math.max(0, Math.trunc(ms / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.trunc(s / 60);
  if (m < 60) return `${m}min ago`;
  const h = Math.trunc(m / 60);
  if (h < 24) return `${h}h ${m % 60}min ago`;
  return `${Math.trunc(h / 24)} days ago`;
}

// ---------------------------------------------------------------- API timestamps

/** metav1.Time (and Go's time.RFC3339): RFC 3339 in UTC to the second, the fraction dropped. */
export function rfc3339(at: Date | number | string): string {
  return new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** metav1.MicroTime of `ms` (may have a fraction: the kubelet's clock to the microsecond): RFC 3339 with six fractional digits, UTC. */
export function microTime(ms: number): string {
  const whole = Math.floor(ms);
  const micro = Math.min(999, Math.floor((ms - whole) * 1000));
  return new Date(whole).toISOString().replace(/\.(\d{3})Z$/, `.$1${String(micro).padStart(3, '0')}Z`);
}
