/**
 * Where a worker gets its workflow code. `npm run build` writes webpack bundles beside the compiled entry
 * points, and a worker started from dist/ loads one as it is: bundling at start costs seconds of CPU and holds
 * about 150 MB of webpack's memory for the life of the process, and Temporal recommends prebuilt bundles for
 * production. Started from source (dev, tests, bench references) there is no such file next to the entry
 * point, so the worker bundles workflows/ itself.
 *
 * There are two bundles because a workflow interceptor module must be inside the bundle to run at all, and
 * with tracing off the workflows must run none (docs/tracing.md): dist/workflow-bundle.js has the workflows
 * alone, dist/workflow-bundle-traced.js adds Temporal's OpenTelemetry workflow interceptors. Both replay the
 * same histories: the interceptors make spans, never commands.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';
export const TRACED_WORKFLOW_BUNDLE_FILE = 'workflow-bundle-traced.js';

/**
 * The workflow interceptor modules of a traced worker: spans for the workflow run, its update and signal
 * handlers, and the activities and local activities it schedules. Resolved, never loaded, here.
 */
export const TRACED_WORKFLOW_MODULES: readonly string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/**
 * The prebuilt bundle beside this module's parent directory (dist/ when compiled), if there is one: the
 * traced bundle when `traced`, else the plain one.
 */
export function prebuiltWorkflowBundle(
  traced: boolean,
  dir: string = join(__dirname, '..'),
): { codePath: string } | undefined {
  const codePath = join(dir, traced ? TRACED_WORKFLOW_BUNDLE_FILE : WORKFLOW_BUNDLE_FILE);
  return existsSync(codePath) ? { codePath } : undefined;
}
