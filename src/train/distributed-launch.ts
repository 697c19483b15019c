// `clipts launch`: torchrun without Python. Starts N copies of a clipts
// command on this machine with the environment torchrun sets (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT),
// forwards SIGINT/SIGTERM to them, and when one fails stops the others
// (after a grace period: the survivors usually fail on their own at the next
// collective, and a rank that is stopping may be writing a checkpoint). The
// exit code is the first failure's (128 + signal number for a killed
// process), 0 when all succeed. Children get their own process group, so a
// terminal Ctrl-C reaches them once, through the launcher.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { constants } from "node:os";
import { InputError } from "../util/errors.js";

export interface LaunchOptions {
  nprocPerNode: number;
  /** clipts arguments, e.g. ["train", "--config", "x.yaml"]. */
  args: string[];
  /** The program + leading arguments each rank runs (default: this Node, its flags and this CLI script). */
  command?: string[];
  masterAddr?: string;
  /** 0 (default) picks a free port. */
  masterPort?: number;
  env?: NodeJS.ProcessEnv;
  /** Child stdio (default "inherit"). */
  stdio?: "inherit" | "ignore" | "pipe";
  /** How long the other ranks get to exit after one failed before they are sent SIGTERM (default 30 s). */
  graceMs?: number;
  /** Called with each child right after it starts (tests read its output). */
  onSpawn?: (rank: number, child: ChildProcess) => void;
}

/** A free TCP port on addr (there is a short window in which someone else could take it). */
export async function freePort(addr = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, addr, () => {
      const a = srv.address();
      const port = typeof a === "object" && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return 128 + (n ?? 1);
}

export async function launch(o: LaunchOptions): Promise<number> {
  if (!Number.isInteger(o.nprocPerNode) || o.nprocPerNode < 1) {
    throw new InputError(`--nproc-per-node must be a positive integer, got ${o.nprocPerNode}`);
  }
  if (o.args.length === 0) throw new InputError("clipts launch: no command given (clipts launch --nproc-per-node N -- train --config FILE)");
  const addr = o.masterAddr ?? "127.0.0.1";
  const port = o.masterPort || (await freePort(addr));
  const command = o.command ?? [process.execPath, ...process.execArgv, process.argv[1]!];
  const n = o.nprocPerNode;
  const children: ChildProcess[] = [];
  let firstFailure: number | null = null;
  // After a forwarded signal every rank is stopping on its own (and rank 0 may
  // be writing its checkpoint): a non-zero exit then must not kill the others.
  let signalled = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stopAll = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const forward = (sig: NodeJS.Signals) => () => {
    signalled = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const done = Array.from({ length: n }, (_, rank) => {
      const env = {
        ...(o.env ?? process.env),
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: String(n),
        LOCAL_WORLD_SIZE: String(n),
        MASTER_ADDR: addr,
        MASTER_PORT: String(port),
      };
      const child = spawn(command[0]!, [...command.slice(1), ...o.args], { env, stdio: o.stdio ?? "inherit", detached: true });
      children.push(child);
      o.onSpawn?.(rank, child);
      return new Promise<void>((resolve) => {
        child.once("error", (err) => {
          console.error(`clipts launch: rank ${rank}: ${err.message}`);
          if (firstFailure === null) firstFailure = 1;
          resolve();
        });
        child.once("exit", (code, signal) => {
          const c = exitCode(code, signal);
          if (c !== 0 && firstFailure === null) {
            firstFailure = c;
            if (!signalled) {
              const grace = o.graceMs ?? 30_000;
              console.error(`clipts launch: rank ${rank} exited with ${code ?? signal}; stopping the other ranks in ${grace / 1000} s`);
              graceTimer = setTimeout(() => stopAll("SIGTERM"), grace);
            }
          }
          resolve();
        });
      });
    });
    await Promise.all(done);
  } finally {
    clearTimeout(graceTimer);
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
  return firstFailure ?? 0;
}
