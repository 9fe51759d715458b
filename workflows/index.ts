// The worker's workflow bundle entry: every workflow type it serves.
export { selfCheckWorkflow } from './selfCheck';
