// A process the worker spawns inherits every descriptor of the worker that is not
// close-on-exec: node and libuv set FD_CLOEXEC on the descriptors they open, but not on
// those the worker itself inherited (a pipe of the tsx loader, of a supervisor, of a test
// runner: fd 251 was seen by a function). Function code must never see them, so every
// process tree that ends in function code (or in a build of a function's code) starts with
// this step: it closes every descriptor above 2 but the ones the tree is handed on
// purpose (by the number it sees them as), then exec()s the command.
//
// Perl, because Debian's perl-base is Essential (the prepared sandboxes' supervisor is Perl
// too) and it needs no module to do this; it opens nothing the command keeps: the directory
// it lists is close-on-exec, and so is everything Perl opens above $^F (2).
import { accessSync, constants } from "node:fs";

export const PERL = "/usr/bin/perl";

const CLOSE_INHERITED = String.raw`
my %keep = map { $_ => 1 } split /,/, shift @ARGV;
opendir(my $fds, '/proc/self/fd') or do { print STDERR "cannot list /proc/self/fd: $!\n"; exit 125 };
my @inherited = grep { /^\d+$/ && $_ > 2 && !$keep{$_} } readdir $fds;
closedir $fds;
for (@inherited) { my $h; open($h, '+<&=', $_) and close $h }
# Whatever Perl could not wrap in a handle, closed by the system call.
for (grep { -l "/proc/self/fd/$_" } @inherited) { require POSIX; POSIX::close($_) }
exec { $ARGV[0] } @ARGV;
print STDERR "cannot run $ARGV[0]: $!\n";
exit 127;
`;

function present(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether inherited descriptors can be closed on this machine (perl present). */
export const canCloseInherited = present(PERL);

/**
 * `command`, run so that it sees only descriptors 0-2 and `keep` of those it inherits.
 * Unchanged where perl is missing (ProcessRuntime warns at start).
 */
export function closingInherited(command: readonly string[], keep: readonly number[] = []): string[] {
  if (!canCloseInherited) return [...command];
  return [PERL, "-e", CLOSE_INHERITED, keep.join(","), ...command];
}
