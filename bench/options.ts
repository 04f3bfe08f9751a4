// Command-line options of the bench scripts: `--name value` pairs taken out of the argument list (what is left
// are the positional arguments, e.g. package directories).

/** A reader of `--name value` options over `args`; each option read is removed from `args`. */
export function optionReader(args: string[]): (name: string, fallback: string) => string {
  return (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return fallback;
    const value = args[i + 1] ?? fallback;
    args.splice(i, 2);
    return value;
  };
}
