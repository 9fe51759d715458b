/** ioredis' own slot function (a dependency of ioredis), typed for the tests that check our hash tags. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string): number;
}
