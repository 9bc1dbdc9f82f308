/**
 * The Chromium the browser tests drive, and what they do without it: skipped with the command
 * that installs it, so `npm test` passes on a machine set up as README says; CI sets
 * SAM2_REQUIRE_BROWSER=1 to fail instead (test/browser-requirement.test.ts checks both).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, or any Chromium or Chrome binary named by SAM2_CHROMIUM. */
export const CHROMIUM = process.env.SAM2_CHROMIUM || '/usr/bin/chromium';

const NO_CHROMIUM = `${CHROMIUM} is missing, so the editor's browser tests are skipped. To run them, install Chromium (Debian, Raspberry Pi OS: sudo apt-get install chromium) or set SAM2_CHROMIUM to a Chromium or Chrome binary; see test/browser/README.md`;

/** For a suite's `before`: skips the suite without Chromium, or fails it when SAM2_REQUIRE_BROWSER=1. */
export function skipWithoutChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.SAM2_REQUIRE_BROWSER === '1') throw new Error(`SAM2_REQUIRE_BROWSER=1 and ${NO_CHROMIUM}`);
  process.stdout.write(`\n  Skipped: ${NO_CHROMIUM}\n\n`);
  context.skip();
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
