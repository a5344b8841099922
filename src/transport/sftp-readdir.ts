/** An SFTP directory listing as DirEntry values (lstat types, as OpenSSH's sftp-server reports them). */
import type { SFTPWrapper } from 'ssh2';
import { statFromMode } from './exec-files.js';
import type { DirEntry } from './types.js';

/** SSH_FX_NO_SUCH_FILE (draft-ietf-secsh-filexfer-02) */
export const SFTP_NO_SUCH_FILE = 2;

/** The entries of `dir`, or null when it does not exist; other errors reject as ssh2 gave them. */
export function sftpReaddir(sftp: SFTPWrapper, dir: string): Promise<DirEntry[] | null> {
  return new Promise((resolve, reject) => {
    sftp.readdir(dir, (err, entries) => {
      if (!err) resolve(entries.map((e) => ({ name: e.filename, type: statFromMode(e.attrs.mode, 0, 0, 0, 0).type })));
      else if ((err as { code?: number }).code === SFTP_NO_SUCH_FILE) resolve(null);
      else reject(err);
    });
  });
}
