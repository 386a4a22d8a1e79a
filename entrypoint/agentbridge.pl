# ws's GPG agent bridge, the far end of ws's relay when the Docker engine is
# not on the caller's host: it listens on the workspace's agent socket and
# carries each connection over its stdin/stdout (an Engine API exec stream)
# to ws, which filters it and talks to the caller's gpg-agent. Frames both
# ways: type (1 byte: L listening, O open, D data, C close), connection
# (uint32), length (uint32), data. EOF on stdin ends it and removes the
# socket. perl-base is Essential in Debian, so every Debian image has it.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_STREAM);

$SIG{PIPE} = 'IGNORE';
my $path = shift or die "usage: agentbridge SOCKET\n";
(my $dir = $path) =~ s{/[^/]*$}{};
mkdir $dir, 0700;
unlink $path;
my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 16)
  or die "ws agent bridge: listen on $path: $!\n";
binmode STDIN;
binmode STDOUT;

sub put {
  my ($fh, $data) = @_;
  while (length $data) {
    my $n = syswrite($fh, $data);
    return 0 unless defined $n && $n > 0;
    substr($data, 0, $n) = '';
  }
  return 1;
}

sub frame {
  my ($type, $id, $data) = @_;
  $data = '' unless defined $data;
  put(\*STDOUT, pack('aNN', $type, $id, length $data) . $data) or exit 0;
}

my $select = IO::Select->new($server, \*STDIN);
my (%conn, %id_of);
my $next = 1;
my $in = '';

sub drop {
  my ($id) = @_;
  my $c = delete $conn{$id} or return;
  delete $id_of{fileno $c};
  $select->remove($c);
  close $c;
}

frame('L', 0);
while (1) {
  for my $fh ($select->can_read) {
    if (fileno $fh == fileno $server) {
      my $c = $server->accept or next;
      my $id = $next++;
      $conn{$id} = $c;
      $id_of{fileno $c} = $id;
      $select->add($c);
      frame('O', $id);
    } elsif (fileno $fh == fileno STDIN) {
      my $n = sysread(STDIN, my $buf, 65536);
      if (!$n) {
        unlink $path;
        exit 0;
      }
      $in .= $buf;
      while (length $in >= 9) {
        my ($type, $id, $len) = unpack('aNN', $in);
        last if length $in < 9 + $len;
        my $data = substr($in, 9, $len);
        substr($in, 0, 9 + $len) = '';
        next unless $conn{$id};
        if ($type eq 'D') {
          drop($id) unless put($conn{$id}, $data);
        } elsif ($type eq 'C') {
          drop($id);
        }
      }
    } else {
      my $id = $id_of{fileno $fh};
      my $n = sysread($fh, my $buf, 65536);
      if (!$n) {
        frame('C', $id);
        drop($id);
      } else {
        frame('D', $id, $buf);
      }
    }
  }
}
