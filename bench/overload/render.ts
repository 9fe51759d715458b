/**
 * The latency curve in the report (issue 32): per flow, its measured capacity and one row per load step
 * (p50, p99, p99.9 and max from intended start, goodput, shed answers), and an SVG chart written next to
 * the report: p99 by load on a log scale, and goodput as a share of capacity. Hand-written SVG, no library.
 */
import type { SegmentFigures } from './openLoad';

export interface CurveStep extends SegmentFigures {
  /** Offered load as a percentage of the flow's measured capacity. */
  percent: number;
}

export interface CurveReport {
  flow: string;
  label: string;
  unit: string;
  /** Correct answers per second of the closed-loop run (after --max-rate, when given). */
  capacityPerSecond: number;
  capacityNote: string;
  deadlineMs: number;
  steps: CurveStep[];
  /** After the 200 % step: p99 per half second at 50 %, and the seconds until it stayed back. */
  recovery?: { windowP99sMs: number[]; thresholdMs: number; seconds: number | undefined };
}

const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
const ms = (value: number) => (value < 10 ? value.toFixed(1) : int(value));
const pct = (part: number, whole: number) => (whole > 0 ? `${Math.round((part * 100) / whole)} %` : 'n/a');

export function curveMarkdown(curves: readonly CurveReport[], svgFile: string | undefined): string[] {
  const out = ['', '### Latency curve (open loop, from intended start)', ''];
  if (svgFile) out.push(`Chart: [${svgFile}](${svgFile}).`, '');
  for (const curve of curves) {
    out.push(
      `**${curve.flow}**: ${curve.label}. Capacity ${int(curve.capacityPerSecond)} ${curve.unit}/s ` +
        `(${curve.capacityNote}); deadline ${curve.deadlineMs} ms.`,
      '',
      '| load | offered/s | goodput/s | goodput / capacity | p50 ms | p99 ms | p99.9 ms | max ms | shed | shed p99 ms | failed or late |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...curve.steps.map(
        (s) =>
          `| ${s.percent} % | ${int(s.offeredPerSecond)} | ${int(s.goodputPerSecond)} | ` +
          `${pct(s.goodputPerSecond, curve.capacityPerSecond)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ` +
          `${ms(s.p999Ms)} | ${ms(s.maxMs)} | ${pct(s.shed, s.flows)} | ${s.shed ? ms(s.shedP99Ms) : ''} | ` +
          `${int(s.failed)} |`,
      ),
    );
    if (curve.recovery) {
      const r = curve.recovery;
      out.push(
        '',
        `After 200 %, at 50 %: p99 per half second ${r.windowP99sMs.map(ms).join(', ')} ms; back under ` +
          `${ms(r.thresholdMs)} ms ${r.seconds === undefined ? '**not within the run**' : `after ${r.seconds.toFixed(1)} s`}.`,
      );
    }
    out.push('');
  }
  return out;
}

const WIDTH = 720;
const PANEL_HEIGHT = 260;
const MARGIN = { left: 70, right: 150, top: 30, bottom: 40 };
const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd'];

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Panel {
  title: string;
  top: number;
  /** Maps a value to y within the panel. */
  y: (value: number) => number;
  ticks: { value: number; label: string }[];
  value: (step: CurveStep, curve: CurveReport) => number;
}

/** The chart: p99 from intended start (log scale) and goodput / capacity, against offered load. */
export function curveSvg(curves: readonly CurveReport[], title: string): string {
  const percents = [...new Set(curves.flatMap((c) => c.steps.map((s) => s.percent)))].sort((a, b) => a - b);
  const maxPercent = Math.max(200, ...percents);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (percent: number) => MARGIN.left + (percent / maxPercent) * plotWidth;
  const latencies = curves.flatMap((c) => c.steps.map((s) => Math.max(1, s.p99Ms)));
  const topMs = 10 ** Math.ceil(Math.log10(Math.max(10, ...latencies)));
  const logY = (top: number) => (value: number) =>
    top + MARGIN.top + plotHeight * (1 - Math.log10(Math.max(1, value)) / Math.log10(topMs));
  const linearY = (top: number) => (value: number) =>
    top + MARGIN.top + plotHeight * (1 - Math.min(value, 1.2) / 1.2);
  const decades: { value: number; label: string }[] = [];
  for (let v = 1; v <= topMs; v *= 10) decades.push({ value: v, label: `${v} ms` });
  const panels: Panel[] = [
    {
      title: 'p99 latency from intended start (log scale)',
      top: 0,
      y: logY(0),
      ticks: decades,
      value: (s) => s.p99Ms,
    },
    {
      title: 'goodput / measured capacity',
      top: PANEL_HEIGHT,
      y: linearY(PANEL_HEIGHT),
      ticks: [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, label: `${v * 100} %` })),
      value: (s, c) => (c.capacityPerSecond > 0 ? s.goodputPerSecond / c.capacityPerSecond : 0),
    },
  ];
  const parts: string[] = [];
  for (const panel of panels) {
    const bottom = panel.top + MARGIN.top + plotHeight;
    parts.push(
      `<text x="${MARGIN.left}" y="${panel.top + 20}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`,
      `<line x1="${MARGIN.left}" y1="${bottom}" x2="${MARGIN.left + plotWidth}" y2="${bottom}" stroke="#000"/>`,
      `<line x1="${MARGIN.left}" y1="${panel.top + MARGIN.top}" x2="${MARGIN.left}" y2="${bottom}" stroke="#000"/>`,
    );
    for (const tick of panel.ticks) {
      const ty = panel.y(tick.value);
      parts.push(
        `<line x1="${MARGIN.left}" y1="${ty}" x2="${MARGIN.left + plotWidth}" y2="${ty}" stroke="#ddd"/>`,
        `<text x="${MARGIN.left - 6}" y="${ty + 4}" font-size="11" text-anchor="end">${tick.label}</text>`,
      );
    }
    for (const percent of percents)
      parts.push(
        `<text x="${x(percent)}" y="${bottom + 16}" font-size="11" text-anchor="middle">${percent}%</text>`,
      );
    curves.forEach((curve, k) => {
      const color = COLORS[k % COLORS.length] as string;
      const points = curve.steps.map(
        (s) => `${x(s.percent).toFixed(1)},${panel.y(panel.value(s, curve)).toFixed(1)}`,
      );
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
      for (const point of points) {
        const [px, py] = point.split(',');
        parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
      }
      const legendY = panel.top + MARGIN.top + 16 * k;
      parts.push(
        `<rect x="${MARGIN.left + plotWidth + 12}" y="${legendY}" width="12" height="3" fill="${color}"/>`,
        `<text x="${MARGIN.left + plotWidth + 30}" y="${legendY + 5}" font-size="11">${escapeXml(curve.flow)}</text>`,
      );
    });
  }
  const height = PANEL_HEIGHT * panels.length + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    `<text x="${MARGIN.left}" y="${height - 6}" font-size="11">${escapeXml(title)}; offered load as % of each flow's measured capacity</text>`,
    '</svg>',
    '',
  ].join('\n');
}
