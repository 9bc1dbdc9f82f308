/**
 * The Chromium the browser tests drive (playwright-core downloads none of its own), and what
 * they do without it: skipped with the command that installs it, so `npm test` passes on a
 * machine set up as README says, or failed when SAM2_REQUIRE_BROWSER=1, as CI sets it.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, or any Chromium or Chrome binary named by SAM2_CHROMIUM. */
export const CHROMIUM = process.env.SAM2_CHROMIUM || '/usr/bin/chromium';

/** In a mocha `before`: skips the suite (or fails it under SAM2_REQUIRE_BROWSER=1) when Chromium is missing. */
export function needChromium(suite: Mocha.Context, tests: string): void {
  if (existsSync(CHROMIUM)) return;
  const why = `${CHROMIUM} is missing, so ${tests} are skipped. To run them, install Chromium (Debian, Raspberry Pi OS: sudo apt-get install chromium) or set SAM2_CHROMIUM to a Chromium or Chrome binary; see test/browser/README.md`;
  if (process.env.SAM2_REQUIRE_BROWSER === '1') throw new Error(`SAM2_REQUIRE_BROWSER=1 and ${why}`);
  process.stdout.write(`\n  Skipped: ${why}\n\n`);
  suite.skip();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}
