// NAME arguments of the file verbs (put, get, rm, stat). Node decodes argv as UTF-8 and turns
// every invalid byte into U+FFFD, so `put $'bad\xff'` and `put $'bad\xfe'` would arrive as one
// name and the second put would silently replace the first. A name containing U+FFFD is
// therefore refused on the command line (a name stored through the library with a real U+FFFD
// cannot be addressed from the CLI; the library itself accepts it).
import { InvalidArgumentError } from '../errors.js';
import { displayName } from './format.js';

const REPLACEMENT_CHARACTER = '\uFFFD';

export function nameArgument(text: string): string {
  if (text.includes(REPLACEMENT_CHARACTER)) {
    throw new InvalidArgumentError(
      `the name ${displayName(text)} is not valid UTF-8 (the command line turns invalid bytes into U+FFFD, so it cannot tell such names apart)`,
    );
  }
  return text;
}
