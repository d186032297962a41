/**
 * How the user reaches this command, for the commands that banners and hints suggest: the
 * checkout's wrapper exports OMADM_SELF as the caller typed it (`./omadm`, `../omadm/omadm`, or
 * `omadm` when it is the one on the PATH); an installed `omadm` is just `omadm`.
 */
export function selfCommand(env: NodeJS.ProcessEnv = process.env): string {
  const self = env.OMADM_SELF?.trim();
  if (!self) return 'omadm';
  // Quoted only when a shell would split it.
  return /^[\w./@:+-]+$/.test(self) ? self : `'${self.replace(/'/g, `'\\''`)}'`;
}
