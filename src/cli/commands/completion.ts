// faas completion bash|zsh: the script, written from the command tree it completes.
import { Argument, type Command } from "commander";
import { completionScript, SHELLS, type Shell } from "../completion.js";
import { type CliContext, JSON_OPTION } from "../context.js";

export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .description("print a shell completion script")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
    .option(...JSON_OPTION)
    .addHelpText(
      "after",
      "\nbash: source <(faas completion bash)   zsh: source <(faas completion zsh)\nTo keep it, save the output where the shell loads completions (see the script's first lines).",
    )
    .action((shell: Shell, opts: { json?: boolean }) => {
      const script = completionScript(program, shell);
      if (opts.json) ctx.out.json({ shell, script });
      else ctx.io.stdout.write(script);
    });
}
