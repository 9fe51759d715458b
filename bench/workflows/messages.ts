/** Signals of the bench workflows, shared by the bench process (sender) and the bench worker. */
import { defineSignal } from '@temporalio/workflow';

export const pingSignal = defineSignal<[number]>('ping');

export const BENCH_WORKFLOW_ID_PREFIX = 'bench-';
