// The worker's workflow bundle entry: every workflow type it serves.
export { creditPumpWorkflow } from './creditPump';
export { packetWorkflow } from './packet';
export { selfCheckWorkflow } from './selfCheck';
