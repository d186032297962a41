/**
 * The fleet simulator: many simulated DM devices in one process on omadm's client session engine
 * (compact per-device records over a shared template tree), provisioning through the operator
 * REST API, and fleet statistics. A face like the CLI: it imports the client layers and the CLI's
 * API client. See docs/simulator.md.
 */
export {
  deviceSecret,
  errorKind,
  Fleet,
  type FleetOptions,
  type SimSessionResult,
} from './fleet.ts';
export {
  SIM_FUMO_URI,
  SIM_UPDATE_FAILURES,
  SimFumo,
  type SimFumoOptions,
  type SimFumoStats,
} from './fumo.ts';
export { type ProvisionOptions, type ProvisionResult, provisionFleet } from './provision.ts';
export { FleetStats, LatencyHistogram } from './stats.ts';
export {
  canonical,
  type SimNode,
  SimTemplate,
  simHandler,
  standardTemplate,
  type Timing,
} from './template.ts';
export { type FleetSummary, summarize } from './summary.ts';
