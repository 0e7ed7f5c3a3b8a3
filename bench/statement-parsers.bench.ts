/**
 * Parse speed of the MT940 and CSV statement readers on synthetic files of 100,000 lines (one
 * :61:/:86: pair, or one CSV row, per transaction). Run: npx ts-node --transpile-only bench/statement-parsers.bench.ts [lines]
 */
import { StatementFormat, parseStatementFile } from '../src/modules/reconciliation/importers';

const count = Number(process.argv[2] ?? 100_000);

function mt940(lines: number): string {
  const out = [':20:BENCH', ':25:NL81ASNB9999999999', ':28C:1/1', ':60F:C240101EUR0,00'];
  let balance = 0n;
  for (let index = 0; index < lines; index += 1) {
    const cents = BigInt(100 + (index % 9_900));
    const credit = index % 3 !== 0;
    balance += credit ? cents : -cents;
    out.push(`:61:2401020102${credit ? 'C' : 'D'}${cents / 100n},${String(cents % 100n).padStart(2, '0')}NTRFREF${index}//B${index}`);
    out.push(`:86:166?00GUTSCHRIFT?20EREF+E2E-${index}?21SVWZ+Invoice ${index}?32Customer ${index % 500}`);
  }
  const sign = balance < 0n ? 'D' : 'C';
  const magnitude = balance < 0n ? -balance : balance;
  out.push(`:62F:${sign}240102EUR${magnitude / 100n},${String(magnitude % 100n).padStart(2, '0')}`, '-');
  return out.join('\n');
}

function csv(lines: number): string {
  const out = ['Date;Amount;Description;Reference'];
  for (let index = 0; index < lines; index += 1) {
    const cents = 100 + (index % 9_900);
    out.push(`02.01.2024;${index % 3 === 0 ? '-' : ''}${Math.floor(cents / 100)},${String(cents % 100).padStart(2, '0')};"Invoice ${index}; customer ${index % 500}";REF${index}`);
  }
  return out.join('\n');
}

function measure(label: string, content: string, parse: (content: Buffer) => number): void {
  const buffer = Buffer.from(content);
  parse(buffer); // warm-up
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const lines = parse(buffer);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // CPU time as well as wall time: on a shared machine the wall clock mostly measures the neighbours.
  console.log(
    `${label}: ${lines} lines, ${(buffer.length / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s wall (${Math.round(lines / seconds).toLocaleString('en')} lines/s), ` +
      `${cpuSeconds.toFixed(2)} s CPU (${Math.round(lines / cpuSeconds).toLocaleString('en')} lines/s), heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB`,
  );
}

measure('MT940', mt940(count), (content) => parseStatementFile(StatementFormat.MT940, content).statements[0].lines.length);
measure('CSV', csv(count), (content) =>
  parseStatementFile(StatementFormat.CSV, content, {
    csv: { dateColumn: 'Date', dateFormat: 'DD.MM.YYYY', amountColumn: 'Amount', descriptionColumn: 'Description', referenceColumn: 'Reference', decimalSeparator: ',', currency: 'EUR' },
  }).statements[0].lines.length,
);
