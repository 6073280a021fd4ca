/**
 * What Fly's DNS says the supercluster should be, asked at every scrape: the regions TXT (the gateways this
 * machine should have), the own region's AAAA (its route peers) and the vms/all.vms TXT (every machine of
 * the app, started or stopped). nats-server knows none of it, and a stopped machine's own series simply stop,
 * so the alerts compare what remains (the other machines' series) against these. With a process group
 * (FLY_PROCESS_GROUP) only its machines count, as in discovery: AAAA `<group>.process.<app>.internal` filters
 * the own region's peers, and a region counts when its AAAA lists one of them (a scheduled job's machine is no
 * peer). A lookup that fails keeps its last answer, so an expected peer does not vanish from the comparison with
 * a DNS hiccup; nats_cluster_dns_error says which answer is stale.
 */
import { canonicalIp } from "../net.ts";
import { flyResolver, parseRegionsTxt, processGroupName, regionName, regionsName, withRetry } from "../discovery/fly.ts";
import { allVmsName, type FlyVm, parseVmsTxt, vmsName } from "../discovery/machines.ts";
import type { HostPort } from "../net.ts";
import type { Families } from "./family.ts";

export interface FlyDnsOptions {
  app: string;
  region: string;
  /** Only machines of this process group count; undefined: every machine of the app. */
  processGroup?: string;
  privateIp: string;
  nameserver: HostPort;
}

/** The last answer of each record (undefined until one came), and whether the latest lookup failed. */
export interface DnsView {
  regions?: string[];
  /** The own region's machines' addresses, this machine's excluded. */
  routePeers?: string[];
  started?: FlyVm[];
  all?: FlyVm[];
  /** The process group's machines' addresses (with a group). */
  group?: Set<string>;
  errors: Record<"regions" | "region" | "group" | "vms" | "all_vms", boolean>;
}

/** Well inside a scrape's timeout (Prometheus' default 10 s); each query is retried within it. */
const LOOKUP_DEADLINE_MS = 2000;

/** Asks the records at once each time it is called (with a group, then the other regions' AAAA); remembers the last good answers. */
export function flyDnsWatcher(opts: FlyDnsOptions): () => Promise<DnsView> {
  const view: DnsView = { errors: { regions: false, region: false, group: false, vms: false, all_vms: false } };
  const self = canonicalIp(opts.privateIp);
  const group = opts.processGroup;
  return async () => {
    const resolver = await flyResolver(opts.nameserver, LOOKUP_DEADLINE_MS);
    const deadline = Date.now() + LOOKUP_DEADLINE_MS;
    const lookup = <T>(name: string, query: () => Promise<T>, empty: T) => withRetry(name, query, empty, deadline);
    const addresses = (name: string) => lookup(name, () => resolver.resolve6(name).then((ips) => [...new Set(ips.map(canonicalIp))]), []);
    const [regions, region, inGroup, started, all] = await Promise.all([
      lookup(regionsName(opts.app), () => resolver.resolveTxt(regionsName(opts.app)), []),
      addresses(regionName(opts.region, opts.app)),
      group === undefined ? undefined : addresses(processGroupName(group, opts.app)),
      lookup(vmsName(opts.app), () => resolver.resolveTxt(vmsName(opts.app)), []),
      lookup(allVmsName(opts.app), () => resolver.resolveTxt(allVmsName(opts.app)), []),
    ]);
    view.errors.group = inGroup?.ok === false;
    if (inGroup?.ok) view.group = new Set(inGroup.value);
    const ours = (ips: string[]) => (view.group ? ips.filter((ip) => view.group!.has(ip)) : ips);
    view.errors.region = !region.ok;
    if (region.ok) view.routePeers = ours(region.value).filter((ip) => ip !== self);
    view.errors.regions = !regions.ok;
    if (regions.ok) {
      const names = parseRegionsTxt(regions.value);
      if (!view.group) view.regions = names;
      else {
        // A region counts when its AAAA lists a machine of the group, or when that lookup failed (not known to be none).
        const found = await Promise.all(names.map((name) => (name === opts.region ? undefined : addresses(regionName(name, opts.app)))));
        view.regions = names.filter((_, i) => !found[i] || !found[i]!.ok || ours(found[i]!.value).length > 0);
      }
    }
    for (const [key, name, answer] of [
      ["vms", vmsName(opts.app), started],
      ["all_vms", allVmsName(opts.app), all],
    ] as const) {
      const list = answer.ok ? parseVmsTxt(name, answer.value) : undefined;
      view.errors[key] = !list?.ok;
      if (list?.ok) view[key === "vms" ? "started" : "all"] = list.vms;
    }
    return view;
  };
}

/**
 * The families of a view. `app` is a label of the exporter's own (as on nats_cluster_info), so that an alert
 * joining these with nats_cluster_info matches on it whether or not the scraper sets an app label of its own.
 */
export function flyDnsFamilies(families: Families, view: DnsView, own: { app: string; region: string }): void {
  if (view.routePeers) {
    families.add(
      "nats_cluster_expected_route_peers",
      "Machines the own region's DNS (AAAA <region>.<app>.internal) lists, this one excluded: the route peers it should have",
      {},
      view.routePeers.length,
    );
  }
  for (const region of view.regions ?? []) {
    if (region === own.region) continue;
    families.add(
      "nats_cluster_expected_gateway",
      "1 for each other region the regions TXT lists: an outbound gateway this machine should have",
      { remote_gateway_name: region },
      1,
    );
  }
  if (view.all) {
    const started = new Set((view.started ?? []).map((vm) => vm.id));
    for (const vm of view.all) {
      families.add(
        "nats_cluster_dns_machine",
        "1 for every machine of the app all.vms.<app>.internal lists; state: started (also in vms.<app>.internal) or stopped",
        { app: own.app, machine_id: vm.id, cluster: vm.region, state: started.has(vm.id) ? "started" : "stopped" },
        1,
      );
    }
  }
  for (const [record, failed] of Object.entries(view.errors)) {
    families.add(
      "nats_cluster_dns_error",
      "1 when the latest lookup of that record failed (its figures are then the last answer's)",
      { record },
      failed ? 1 : 0,
    );
  }
}
