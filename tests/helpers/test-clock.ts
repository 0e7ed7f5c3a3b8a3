import type { Clock } from '../../src/common/clock';

/**
 * A clock the test moves by hand: expiries (keys, tokens, rolled keys) are tested without sleeping.
 * It starts at the real time so that values the server compares with the database stay plausible.
 */
export class TestClock implements Clock {
  private currentMs: number;

  constructor(start: Date = new Date()) {
    this.currentMs = start.getTime();
  }

  now(): Date {
    return new Date(this.currentMs);
  }

  /** Moves time forward (or back, with a negative amount). */
  advance(ms: number): Date {
    this.currentMs += ms;
    return this.now();
  }

  advanceSeconds(seconds: number): Date {
    return this.advance(seconds * 1000);
  }

  set(instant: Date): void {
    this.currentMs = instant.getTime();
  }
}
