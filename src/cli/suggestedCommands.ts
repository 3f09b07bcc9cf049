/**
 * Commands the CLI suggests are written `npx statecraft …`: in a project that depends on Statecraft
 * that is how the command is on hand (a global install answers to it too). A suggestion must run as
 * printed, so when the user named a store with --store, every suggested command is given it as well.
 */

const PLAIN = /^[\w@%+=:,./-]+$/;

/** A word as a POSIX shell reads it back: plain, or single-quoted. */
export const shellQuote = (word: string): string => (PLAIN.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

/** A suggested command: where it ends in a message (a closing backtick, a line's end, end of a sentence, a comment). */
const SUGGESTED = /npx statecraft [^`\n]*?(?=`|\n|$|\.\s|\.$|,\s|;\s|\)| \(| {2,}#| or )/g;

/**
 * `text` with `--store STORE` added to each suggested command that does not name a store already;
 * unchanged without a store. A password in a store URL is masked, as the store's own errors do.
 */
export function withStoreOption(text: string, store: string | undefined): string {
  if (store === undefined || store === '') return text;
  const option = ` --store ${shellQuote(store.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@'))}`;
  return text.replace(SUGGESTED, (command) => (/\s--store(\s|=|$)/.test(command) ? command : `${command}${option}`));
}
