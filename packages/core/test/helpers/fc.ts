/**
 * Running fast-check properties: FC_SEED / FC_PATH / FC_NUM_RUNS from the
 * environment, and a failure that prints the error and a replay line.
 */
import * as fc from "fast-check";

/** fc parameters for a property, with FC_SEED / FC_PATH / FC_NUM_RUNS from the environment. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const env = process.env;
  const params: fc.Parameters<unknown> = { numRuns };
  if (env.FC_NUM_RUNS !== undefined && env.FC_NUM_RUNS !== "") params.numRuns = Number.parseInt(env.FC_NUM_RUNS, 10);
  if (env.FC_SEED !== undefined && env.FC_SEED !== "") params.seed = Number.parseInt(env.FC_SEED, 10);
  if (env.FC_PATH !== undefined && env.FC_PATH !== "") params.path = env.FC_PATH;
  return params;
}

/** fc.assert, with the error and a replay line (FC_SEED=... FC_PATH=...) in the failure. */
export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, fcParams(numRuns) as fc.Parameters<Ts>);
  if (details.failed) {
    const replay = `Replay: FC_SEED=${details.seed} FC_PATH=${JSON.stringify(details.counterexamplePath ?? "")}`;
    const got = details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance);
    throw new Error(`${fc.defaultReportMessage(details)}\nGot error: ${got}\n${replay}`, { cause: details.errorInstance });
  }
}
