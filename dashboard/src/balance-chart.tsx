import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface BalancePoint {
  /** Seconds since the epoch (uPlot's x unit). */
  time: number;
  balance: number;
}

/**
 * A step chart of one balance over time, drawn by uPlot on a canvas. The figures are in the table
 * beside it as text too: the chart is for the eye, the table for screen readers and copying.
 */
export function BalanceChart({ points, currency, label }: { points: BalancePoint[]; currency: string; label: string }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const width = Math.max(280, element.clientWidth);
    const chart = new uPlot(
      {
        width,
        height: 240,
        scales: { x: { time: true } },
        axes: [{ stroke: '#333' }, { stroke: '#333', size: 80, values: (_plot, values) => values.map((value) => value.toLocaleString('en-US')) }],
        series: [
          {},
          {
            label: `Balance (${currency})`,
            stroke: '#0b5cad',
            width: 2,
            fill: 'rgba(11, 92, 173, 0.08)',
            paths: uPlot.paths.stepped?.({ align: 1 }),
          },
        ],
        legend: { show: true },
      },
      [points.map((point) => point.time), points.map((point) => point.balance)],
      element,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(280, element.clientWidth), height: 240 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [points, currency]);
  return <div class="chart" ref={container} role="img" aria-label={label} />;
}
