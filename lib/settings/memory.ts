/**
 * The memory this machine may use: the cgroup limit when there is one (containers), else the RAM the
 * kernel sees (a Fly machine is a Firecracker VM, so that is its size). JetStream's memory store
 * defaults to 75% of it, leaving room for nats-server itself.
 */
import { readFileSync } from "node:fs";

const CGROUP_LIMITS = [
  "/sys/fs/cgroup/memory.max", // cgroup v2; "max" when unlimited
  "/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1; a huge number when unlimited
];

function readNumber(path: string): number | undefined {
  try {
    const value = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

function memTotal(): number | undefined {
  try {
    const match = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function memoryLimitBytes(): number | undefined {
  const limits = [...CGROUP_LIMITS.map(readNumber), memTotal()].filter((v): v is number => v !== undefined);
  return limits.length ? Math.min(...limits) : undefined;
}

export function defaultMaxMemStore(): number {
  const limit = memoryLimitBytes();
  // Without any reading (not Linux), a modest 1 GiB is safer than a guess that overcommits.
  return limit ? Math.floor(limit * 0.75) : 1024 ** 3;
}
