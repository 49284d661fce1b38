/**
 * A private network namespace holding only loopback, for peers that cannot be
 * told to listen on 127.0.0.1: `openssl ocsp -port N` (OpenSSL 3.0) binds
 * every interface, and `-port 127.0.0.1:N` is refused. Inside the namespace
 * "every interface" is its own lo: nothing is reachable from the host or the
 * network, and the load that measures such a peer runs in there too.
 *
 * A holder process (`unshare --net`, then `sleep`) keeps the namespace alive;
 * each process started in it enters with `nsenter --net=/proc/PID/ns/net`, in
 * a process group of its own (spawnGroup), stopped when the owner ends. The
 * namespace goes when its last process does. Needs root (CAP_SYS_ADMIN);
 * without it openPrivateNet says why and the caller skips such a peer.
 * Loopback there has the kernel's default routes (no quickack), as the
 * host's lo has on this machine.
 */
import { spawnGroup, type Group, type GroupOptions, type Owner } from "../harness/processes.js";

export interface PrivateNet {
  /** The holder's pid: /proc/PID/ns/net is the namespace. */
  readonly pid: number;
  /** Starts `command` inside the namespace, in a group of its own, stopped when `owner` ends. */
  spawn(owner: Owner, command: string, args: string[], opts?: GroupOptions): Group;
  /** `command args` as argv for execFile: the same command run inside the namespace. */
  argv(command: string, args: string[]): [string, string[]];
}

/** A fresh namespace with lo up, or why there is none (not root, no unshare/nsenter/ip, or the kernel refused). */
export async function openPrivateNet(owner: Owner, deadlineMs: number): Promise<PrivateNet | { unavailable: string }> {
  if (process.getuid?.() !== 0) return { unavailable: "not root: no private network namespace (unshare --net needs CAP_SYS_ADMIN)" };
  const holder = spawnGroup(owner, "unshare", ["--net", "sh", "-c", 'ip link set lo up && echo "lo up" && exec sleep 86400'], {
    label: "private network namespace holder",
    deadlineMs,
  });
  try {
    await holder.waitFor("stdout", /lo up/, 10_000);
  } catch {
    await holder.stop();
    const why = holder.stderr.trim().split("\n").slice(-1)[0] || "unshare --net failed";
    return { unavailable: `no private network namespace: ${why}` };
  }
  const pid = holder.pid!;
  const enter = (command: string, args: string[]): [string, string[]] => ["nsenter", [`--net=/proc/${pid}/ns/net`, "--", command, ...args]];
  return {
    pid,
    argv: enter,
    spawn: (o, command, args, opts) => spawnGroup(o, ...enter(command, args), { label: `${command} (private network namespace)`, ...opts }),
  };
}
