/**
 * The one error type of configuration loading: every problem found, each with its field path.
 *
 * @module
 */

/** One problem with the configuration, as upstream's `field.Error`. */
export interface ConfigProblem {
  /** Where: a field path (`KubeProxyConfiguration.ClientConnection.Burst`), a flag
   * (`--iptables-sync-period`) or the file itself. */
  readonly path: string;
  /** What is wrong, such as `Invalid value: -1: must be greater than or equal to 0`. */
  readonly message: string;
}

/**
 * Thrown when the command line or the configuration file is bad. It carries every problem
 * found, so the operator can fix them all in one go.
 *
 * @example
 * ```ts
 * throw new ConfigError([{ path: "--v", message: 'invalid argument "x": must be an integer' }]);
 * ```
 */
export class ConfigError extends Error {
  /** Every problem found, in a deterministic order. */
  readonly problems: readonly ConfigProblem[];

  /**
   * @param problems The problems; at least one.
   */
  constructor(problems: readonly ConfigProblem[]) {
    super(
      problems.length === 1
        ? `Invalid configuration: ${problems[0].path}: ${problems[0].message}`
        : `Invalid configuration: ${problems.length} problems`,
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Formats a configuration error for the operator: one `path: message` line per problem.
 * Any other error gives its message.
 *
 * @param err What loading threw.
 * @returns The text to print, without a trailing newline.
 */
export function formatConfigError(err: unknown): string {
  if (err instanceof ConfigError) {
    return err.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("\n");
  }
  return err instanceof Error ? err.message : String(err);
}
