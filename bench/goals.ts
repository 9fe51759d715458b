/**
 * The goals for this 2-core machine, judged from the run's figures. They are goals for the bench,
 * never test assertions: a missed goal is reported (and explained in the README), not a failed run.
 */
import type { Report } from './report';
import { compare, type Figure } from './stats';

const API_RSS_GOAL_MB = 200;
const WORKER_RSS_GOAL_MB = 300;

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');
const perS = (figure: Figure | undefined) => (figure ? `${Math.round(figure.perSecond)}/s` : 'n/a');

export function judgeGoals(report: Report, expectedStormClaims: number): void {
  const f = (id: string) => report.figure(id);
  const storm = f('s1.storm');
  const trad = f('ref.trad');
  const bare = f('ref.bare');
  if (storm) {
    const vsTrad = compare(storm, trad);
    const vsBare = compare(storm, bare);
    compare(storm, f('ref.trad.full'));
    report.goal(
      '1. storm',
      '>= 3x traditional throughput',
      `${perS(storm)} vs ${perS(trad)}: ${x(vsTrad)}`,
      vsTrad >= 3,
    );
    const p99 = storm.latency?.p99Ms ?? Number.NaN;
    const tradP99 = trad?.latency?.p99Ms ?? Number.NaN;
    report.goal(
      '1. storm',
      '<= 1/3 of traditional p99',
      `${Math.round(p99)} ms vs ${Math.round(tradP99)} ms: ${x(p99 / tradP99)}`,
      p99 <= tradP99 / 3,
    );
    report.goal(
      '1. storm',
      '>= 80 % of bare Express+Redis',
      `${perS(storm)} vs ${perS(bare)}: ${x(vsBare)}`,
      vsBare >= 0.8,
    );
    const claims = Number(report.data.facts['1. storm']?.['claims'] ?? -1);
    report.goal(
      '1. storm',
      `exactly ${expectedStormClaims} claims`,
      String(claims),
      claims === expectedStormClaims,
    );
  }
  const grab = f('s1.grab');
  if (grab) {
    const ratio = compare(grab, bare);
    report.goal(
      '1b. grab alone',
      '>= 80 % of bare Express+Redis',
      `${perS(grab)} vs ${perS(bare)}: ${x(ratio)}`,
      ratio >= 0.8,
    );
  }
  const opens = f('s1.opens');
  if (opens) {
    const hot = f('ref.pg.hot');
    const ratio = compare(opens, hot);
    report.goal(
      '1c. opens alone',
      '>= 80 % of raw pg opens of one hot packet',
      `${perS(opens)} vs ${perS(hot)}: ${x(ratio)}`,
      ratio >= 0.8,
    );
  }
  if (bare) compare(bare, f('ref.redis'));
  if (trad) compare(trad, f('ref.pg'));

  const bursts = f('s2.bursts');
  if (bursts) {
    const signals = f('ref.signals.bursts');
    const ratio = compare(bursts, signals);
    report.goal(
      '2. group bursts',
      '>= 2x one-signal-per-open',
      `${perS(bursts)} vs ${perS(signals)}: ${x(ratio)}`,
      ratio >= 2,
    );
    const facts = report.data.facts['2. group bursts'] ?? {};
    const perOpen = Number(facts['signals received per open (histories)'] ?? Number.NaN);
    report.goal('2. group bursts', '<= 0.2 signals per open', perOpen.toFixed(3), perOpen <= 0.2);
    const backlog = Number(facts['backlog 5 s after the last open'] ?? Number.NaN);
    report.goal(
      '2. group bursts',
      'no credit backlog 5 s after the last open',
      `${backlog} uncredited`,
      backlog === 0,
    );
  }
  const spread = f('s3.spread');
  if (spread) {
    const signals = f('ref.signals.spread');
    const ratio = compare(spread, signals);
    const passed = report.data.spreadSteps.some((step) => step.passed);
    report.goal(
      '3. spread opens',
      '>= 80 % of raw signal rate, credit lag p99 < 2 s',
      passed ? `${perS(spread)} vs ${perS(signals)}: ${x(ratio)}` : 'no step kept p99 under 2 s',
      passed && ratio >= 0.8,
    );
  }
  const send = f('s4.send');
  if (send) {
    const workflows = f('ref.workflow');
    const ratio = compare(send, workflows);
    report.goal(
      '4. send',
      '>= 80 % of one-activity workflow rate',
      `${perS(send)} vs ${perS(workflows)}: ${x(ratio)}`,
      ratio >= 0.8,
    );
  }
  judgeMemory(report);
}

function judgeMemory(report: Report): void {
  const max = (name: string, field: 'hwmMb' | 'peakMb') =>
    Math.max(0, ...report.data.phases.map(({ reading }) => reading.processes[name]?.[field] ?? 0));
  const startUp = (name: string) => report.data.phases[0]?.reading.processes[name]?.peakMb ?? 0;
  for (const [name, goalMb] of [
    ['api', API_RSS_GOAL_MB],
    ['worker', WORKER_RSS_GOAL_MB],
  ] as const) {
    const hwm = max(name, 'hwmMb');
    if (hwm === 0) continue; // --url: not our processes
    report.goal(
      'memory',
      `${name} RSS < ${goalMb} MB at peak`,
      `${hwm} MB (VmHWM); ${startUp(name)} MB after start-up, ${max(name, 'peakMb')} MB highest sampled`,
      hwm < goalMb,
    );
  }
}
