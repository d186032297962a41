/**
 * Test helper: runs test/fixtures/smsc.pl (an SMSC on Debian's
 * libnet-smpp-perl) and collects the JSON events it prints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export type SmscEvent = Record<string, string | number>;

export class Smsc {
  readonly child: ChildProcess;
  readonly events: SmscEvent[] = [];
  #waiters: { pred: (e: SmscEvent) => boolean; resolve: (e: SmscEvent) => void }[] = [];
  port = 0;

  constructor(systemId: string, password: string) {
    this.child = spawn(
      'perl',
      [new URL('../fixtures/smsc.pl', import.meta.url).pathname, systemId, password],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        detached: true, // own process group, so stop() also ends per-connection children
      },
    );
  }

  async start(): Promise<void> {
    const rl = createInterface({ input: this.child.stdout! });
    await new Promise<void>((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code) => reject(new Error(`smsc.pl exited ${code}`)));
      rl.on('line', (line) => {
        if (line.startsWith('PORT ')) {
          this.port = Number(line.slice(5));
          resolve();
          return;
        }
        const e = JSON.parse(line) as SmscEvent;
        this.events.push(e);
        const ready = this.#waiters.filter((w) => w.pred(e));
        this.#waiters = this.#waiters.filter((w) => !w.pred(e));
        for (const w of ready) w.resolve(e);
      });
    });
  }

  /** The first event after index `from` matching `pred`, already seen or still to come. */
  next(pred: (e: SmscEvent) => boolean, from = 0): Promise<SmscEvent> {
    const seen = this.events.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      process.kill(-this.child.pid!, 'SIGTERM');
    });
  }
}
