// Process exit codes of the elastripe command-line tool. Scripts rely on these values, so they
// never change: 2 and 70 follow the BSD sysexits convention (EX_USAGE is 64 there, but 2 is what
// most Unix tools return for a bad command line, so we follow the tools).

export const EXIT_OK = 0;
/** An operation failed for a reason the user can act on (an ElastripeError, a missing file). */
export const EXIT_FAILURE = 1;
/** The command line itself is wrong: unknown verb or option, missing or malformed argument. */
export const EXIT_USAGE = 2;
/** A bug: something threw that elastripe did not raise on purpose (EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

export type ExitCode = typeof EXIT_OK | typeof EXIT_FAILURE | typeof EXIT_USAGE | typeof EXIT_INTERNAL;
