import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './args.js';
import type { Command } from './command.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The completion table: first words, the second words under each, the flags of each command. */
export interface CompletionTable {
  firsts: string[];
  subs: Map<string, string[]>;
  /** Key: the command's words joined by a space. */
  flags: Map<string, string[]>;
}

export function completionTable(commands: readonly Command[], common: OptionsConfig): CompletionTable {
  const firsts: string[] = [];
  const subs = new Map<string, string[]>();
  const flags = new Map<string, string[]>();
  for (const c of commands) {
    const [first, second] = c.words;
    if (first === undefined) continue;
    if (!firsts.includes(first)) firsts.push(first);
    if (second !== undefined) subs.set(first, [...(subs.get(first) ?? []), second]);
    flags.set(c.words.join(' '), Object.keys({ ...common, ...c.options }).map((o) => `--${o}`));
  }
  return { firsts, subs, flags };
}

/** Words are command names and flags from the table: letters, digits and dashes only. */
const quote = (words: readonly string[]): string => {
  for (const w of words) if (!/^[A-Za-z0-9-]+$/.test(w)) throw new Error(`cannot complete the word "${w}"`);
  return words.join(' ');
};

export function bashCompletion(t: CompletionTable): string {
  const subCases = [...t.subs].map(([first, list]) => `    ${first}) subs="${quote(list)}" ;;`).join('\n');
  const flagCases = [...t.flags].map(([key, list]) => `    "${key}") opts="${quote(list)}" ;;`).join('\n');
  return `# bash completion for authmesh (authmesh completion bash)
_authmesh() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" subs="" opts="" key
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${quote(t.firsts)} --version --help" -- "$cur") )
    return 0
  fi
  case "\${COMP_WORDS[1]}" in
${subCases}
  esac
  key="\${COMP_WORDS[1]}"
  if [ -n "$subs" ]; then
    if [ "$COMP_CWORD" -eq 2 ] && [[ "$cur" != -* ]]; then
      COMPREPLY=( $(compgen -W "$subs" -- "$cur") )
      return 0
    fi
    case " $subs " in *" \${COMP_WORDS[2]} "*) key="\${COMP_WORDS[1]} \${COMP_WORDS[2]}" ;; esac
  fi
  case "$key" in
${flagCases}
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  return 0
}
complete -o default -F _authmesh authmesh
`;
}

export function zshCompletion(t: CompletionTable): string {
  const subCases = [...t.subs].map(([first, list]) => `    ${first}) subs=(${quote(list)}) ;;`).join('\n');
  const flagCases = [...t.flags].map(([key, list]) => `    "${key}") opts=(${quote(list)}) ;;`).join('\n');
  return `#compdef authmesh
# zsh completion for authmesh (authmesh completion zsh)
_authmesh() {
  local -a subs opts
  local key
  if (( CURRENT == 2 )); then
    compadd -- ${quote(t.firsts)} --version --help
    return
  fi
  case $words[2] in
${subCases}
  esac
  key=$words[2]
  if (( \${#subs} )); then
    if (( CURRENT == 3 )) && [[ $words[3] != -* ]]; then
      compadd -- $subs
      return
    fi
    (( \${subs[(Ie)$words[3]]} )) && key="$words[2] $words[3]"
  fi
  case $key in
${flagCases}
  esac
  compadd -- $opts
}
compdef _authmesh authmesh
`;
}

/** `authmesh completion bash|zsh`: the script, generated from the command table it is given. */
export function completionCommand(commands: () => readonly Command[], common: OptionsConfig): Command {
  return {
    words: ['completion'],
    usage: 'bash|zsh (e.g. source <(authmesh completion bash))',
    options: { bash: { type: 'boolean' }, zsh: { type: 'boolean' } },
    printsItself: true,
    run: (ctx) => {
      const shell = ctx.flags.bash === true ? 'bash' : ctx.flags.zsh === true ? 'zsh' : undefined;
      if (shell === undefined || (ctx.flags.bash === true && ctx.flags.zsh === true)) throw new UsageError('name one shell: bash or zsh');
      const table = completionTable(commands(), common);
      process.stdout.write(shell === 'bash' ? bashCompletion(table) : zshCompletion(table));
      return Promise.resolve({});
    },
  };
}
