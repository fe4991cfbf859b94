module gatepass.dev/hack/pause

go 1.22
