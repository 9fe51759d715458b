// The worker's workflow bundle entry: every workflow type it serves.
export { creditPumpWorkflow } from './creditPump';
export { packetWorkflow } from './packet';
export { reconcileWorkflow } from './reconcile';
export { selfCheckWorkflow } from './selfCheck';
export { settlePumpWorkflow } from './settlePump';
