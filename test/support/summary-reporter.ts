import Mocha from 'mocha';

/**
 * The spec reporter plus one closing line, `N passed, N failed`, that CI reads.
 */
class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    runner.on('pass', () => { passed += 1; });
    runner.on('fail', () => { failed += 1; });
    runner.on('pending', () => { skipped += 1; });
    runner.once('end', () => {
      const tail = skipped > 0 ? `, ${skipped} skipped` : '';
      process.stdout.write(`${passed} passed, ${failed} failed${tail}\n`);
    });
  }
}

export = SummaryReporter;
