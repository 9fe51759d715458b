/** The bench worker's only activity: it does nothing, so a workflow that runs it measures Temporal alone. */
export const createBenchActivities = () => ({
  async noop(): Promise<void> {
    await Promise.resolve();
  },
});

export type BenchActivities = ReturnType<typeof createBenchActivities>;
