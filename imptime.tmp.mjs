const mods = process.argv.slice(2);
for (const m of mods) {
  const c = process.cpuUsage();
  await import(m);
  const d = process.cpuUsage(c);
  console.log(m, ((d.user + d.system) / 1000).toFixed(0), 'ms cpu');
}
