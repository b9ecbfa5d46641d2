/**
 * The feature gates this build accepts (`featureGates` / `--feature-gates`), with the stage and
 * default upstream gives them in the Kubernetes release this build follows (`KUBERNETES_MINOR`),
 * for validation and for the `kubernetes_feature_enabled{name,stage}` metric.
 *
 * They are upstream's gates that concern kube-proxy or are commonly set cluster-wide, plus the
 * `AllAlpha`/`AllBeta` switches. Their values are accepted and reported; none changes this
 * build's behaviour.
 *
 * @module
 */

/** A gate's maturity, as component-base labels it (`""` for GA). */
export type FeatureStage = "ALPHA" | "BETA" | "" | "DEPRECATED";

/** Stage and default of one gate. */
export interface FeatureSpec {
  readonly stage: FeatureStage;
  readonly default: boolean;
}

/** Every gate this build knows, by name. */
export const FEATURE_GATES: Readonly<Record<string, FeatureSpec>> = {
  AllAlpha: { stage: "ALPHA", default: false },
  AllBeta: { stage: "BETA", default: false },
  ComponentSLIs: { stage: "", default: true },
  ContextualLogging: { stage: "BETA", default: true },
  DisableAllocatorDualWrite: { stage: "BETA", default: false },
  IPv6DualStack: { stage: "", default: true },
  KubeProxyDrainingTerminatingNodes: { stage: "", default: true },
  LoadBalancerIPMode: { stage: "", default: true },
  LoggingAlphaOptions: { stage: "ALPHA", default: false },
  LoggingBetaOptions: { stage: "BETA", default: true },
  MinimizeIPTablesRestore: { stage: "", default: true },
  MultiCIDRServiceAllocator: { stage: "", default: true },
  NFTablesProxyMode: { stage: "", default: true },
  PreferSameTrafficDistribution: { stage: "BETA", default: true },
  ProxyTerminatingEndpoints: { stage: "", default: true },
  RelaxedServiceNameValidation: { stage: "ALPHA", default: false },
  ServiceIPStaticSubrange: { stage: "", default: true },
  ServiceInternalTrafficPolicy: { stage: "", default: true },
  ServiceTrafficDistribution: { stage: "", default: true },
  TopologyAwareHints: { stage: "BETA", default: true },
  TopologyManagerPolicyAlphaOptions: { stage: "ALPHA", default: false },
  WinDSR: { stage: "BETA", default: true },
  WinOverlay: { stage: "BETA", default: true },
};

/** One gate's effective state. */
export interface FeatureState {
  readonly name: string;
  readonly stage: FeatureStage;
  readonly enabled: boolean;
}

/**
 * The effective state of every known gate, as component-base resolves it: an explicit value
 * wins; otherwise `AllAlpha` / `AllBeta` switch the gates of their stage; otherwise the default.
 *
 * @param gates `featureGates` of the configuration.
 * @returns One entry per known gate, sorted by name.
 */
export function featureStates(gates: Readonly<Record<string, boolean>>): FeatureState[] {
  return Object.entries(FEATURE_GATES).sort(([a], [b]) => (a < b ? -1 : 1)).map(
    ([name, spec]) => {
      const all = spec.stage === "ALPHA"
        ? gates.AllAlpha
        : spec.stage === "BETA"
        ? gates.AllBeta
        : undefined;
      const switched = name === "AllAlpha" || name === "AllBeta" ? undefined : all;
      return { name, stage: spec.stage, enabled: gates[name] ?? switched ?? spec.default };
    },
  );
}
