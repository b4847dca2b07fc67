// Reads vitest's JSON report: lists every skipped test, fails (exit 1) when one is not in the
// allowlist with a reason, and ends with the plain closing line
// 'tests: N passed, N failed, N skipped'.
// Allowlist lines: 'FILE > SUITE > ... > TEST | reason'; '#' starts a comment.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [reportPath = '.vitest-results.json', allowlistPath = '.ci/allowed_skips.txt'] = process.argv.slice(2);
let ok = true;

const allowed = new Map();
if (existsSync(allowlistPath)) {
  readFileSync(allowlistPath, 'utf8').split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const bar = line.lastIndexOf(' | ');
    const reason = bar < 0 ? '' : line.slice(bar + 3).trim();
    if (!reason) {
      console.log(`ci: ${allowlistPath}:${index + 1} names a test without ' | reason': ${line}`);
      ok = false;
      return;
    }
    allowed.set(line.slice(0, bar).trim(), reason);
  });
}

if (!existsSync(reportPath)) {
  console.log(`ci: no test report at ${reportPath} (the build or vitest failed before running tests)`);
  console.log('tests: 0 passed, 0 failed, 0 skipped');
  process.exit(1);
}
const report = JSON.parse(readFileSync(reportPath, 'utf8'));

const skipped = [];
for (const file of report.testResults) {
  const path = relative(process.cwd(), file.name);
  if (file.status === 'failed' && file.message) console.log(`ci: ${path} failed outside its tests: ${file.message.split('\n')[0]}`);
  for (const test of file.assertionResults) {
    if (test.status === 'passed' || test.status === 'failed') continue;
    skipped.push([path, ...test.ancestorTitles, test.title].join(' > '));
  }
}
const notAllowed = skipped.filter((id) => !allowed.has(id));
console.log(`ci: ${skipped.length} skipped (${skipped.length - notAllowed.length} allowed by ${allowlistPath}, ${notAllowed.length} not)`);
for (const id of skipped) console.log(allowed.has(id) ? `ci:   allowed skip: ${id} (${allowed.get(id)})` : `ci:   NOT ALLOWED skip: ${id}`);
for (const id of allowed.keys()) if (!skipped.includes(id)) console.log(`ci:   allowlisted but not skipped (remove it?): ${id}`);
if (notAllowed.length) {
  console.log(`ci: failing: CI must run every test; add a skipped test to ${allowlistPath} with its reason only if it truly cannot run here`);
  ok = false;
}

const skippedCount = report.numPendingTests + report.numTodoTests;
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skippedCount} skipped`);
process.exit(ok ? 0 : 1);
