/**
 * `./DevDetail/Ext/Host`: live facts about the machine the agent runs on (memory, load, uptime),
 * read from the os module at the moment a server asks. Read-only for servers.
 */
import { cpus, freemem, hostname, loadavg, platform, release, totalmem, type, uptime } from 'node:os';
import { StatusCode } from '../representation/index.ts';
import type { ManagementObject, PluginNode } from '../tree/index.ts';

/** Where `hostObject` is mounted by default. */
export const HOST_MO_URI = './DevDetail/Ext/Host';
export const HOST_MO_TYPE = 'urn:omadm:mo:host:1.0';

type Leaf = () => { format: 'chr' | 'int'; data: string };

const LEAVES: Readonly<Record<string, Leaf>> = {
  Hostname: () => ({ format: 'chr', data: hostname() }),
  OS: () => ({ format: 'chr', data: `${type()} ${release()}` }),
  Platform: () => ({ format: 'chr', data: platform() }),
  CPUs: () => ({ format: 'int', data: String(cpus().length) }),
  CPUModel: () => ({ format: 'chr', data: cpus()[0]?.model?.trim() ?? '' }),
  MemTotal: () => ({ format: 'int', data: String(Math.round(totalmem() / 1024)) }),
  MemFree: () => ({ format: 'int', data: String(Math.round(freemem() / 1024)) }),
  Uptime: () => ({ format: 'int', data: String(Math.floor(uptime())) }),
  LoadAvg: () => ({
    format: 'chr',
    data: loadavg()
      .map((n) => n.toFixed(2))
      .join(' '),
  }),
  NodeVersion: () => ({ format: 'chr', data: process.versions.node }),
  ProcessRSS: () => ({ format: 'int', data: String(Math.round(process.memoryUsage.rss() / 1024)) }),
};

/** The host MO: memory values in KiB, uptime in seconds, load averages over 1/5/15 minutes. */
export function hostObject(): ManagementObject {
  return {
    async get(path): Promise<PluginNode | StatusCode> {
      if (path.length === 0) return { format: 'node', type: HOST_MO_TYPE, children: Object.keys(LEAVES) };
      const leaf = path.length === 1 ? LEAVES[path[0]!] : undefined;
      if (!leaf) return StatusCode.NotFound;
      const v = leaf();
      return { format: v.format, type: 'text/plain', data: v.data, permanent: true };
    },
  };
}
