/**
 * Where a worker gets its workflow code. `npm run build` writes one webpack bundle beside the compiled entry
 * points (dist/workflow-bundle.js), and a worker started from dist/ loads it as it is: bundling at start costs
 * seconds of CPU and holds about 150 MB of webpack's memory for the life of the process, and Temporal
 * recommends prebuilt bundles for production. Started from source (dev, tests, bench references) there is no
 * such file next to the entry point, so the worker bundles workflows/ itself.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/** The prebuilt bundle beside this module's parent directory (dist/ when compiled), if there is one. */
export function prebuiltWorkflowBundle(
  dir: string = join(__dirname, '..'),
): { codePath: string } | undefined {
  const codePath = join(dir, WORKFLOW_BUNDLE_FILE);
  return existsSync(codePath) ? { codePath } : undefined;
}
