// epp-client drives an ext_proc v3 server the way Envoy's ext_proc filter does (BUFFERED or STREAMED
// request bodies: one message, one answer), with Envoy's generated client from go-control-plane, and
// checks gRPC health with grpc-go's health client. The dynamo-ts EPP tests run it: a scenario (JSON) on
// stdin, the server's answers as protojson on stdout, one JSON document.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

type request struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// Chunks: the body is sent in this many request_body messages (at least 1 when there is a body).
	Chunks int `json:"chunks"`
	// Subset: the envoy.lb.subset_hint list sent in the headers message's metadata_context.
	Subset []string `json:"subset"`
	// BreakAfterChunks > 0: cancel the stream after sending this many chunks (none with end_of_stream).
	BreakAfterChunks int `json:"breakAfterChunks"`
	// ResponsePhases: after the request phase, send response_headers and a last response_body.
	ResponsePhases bool `json:"responsePhases"`
}

type scenario struct {
	Addr     string    `json:"addr"`
	Requests []request `json:"requests"`
	// Health: when set, check this service name ("" is the server as a whole) first.
	Health *string `json:"health"`
}

type result struct {
	Responses []json.RawMessage `json:"responses"`
	Broken    bool              `json:"broken,omitempty"`
	Error     string            `json:"error,omitempty"`
}

type output struct {
	Health  string   `json:"health,omitempty"`
	Results []result `json:"results"`
}

func main() {
	var sc scenario
	if err := json.NewDecoder(os.Stdin).Decode(&sc); err != nil {
		fail("scenario: %v", err)
	}
	conn, err := grpc.NewClient(sc.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail("dial %s: %v", sc.Addr, err)
	}
	defer conn.Close()
	var out output
	if sc.Health != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: *sc.Health})
		cancel()
		if err != nil {
			out.Health = "error: " + err.Error()
		} else {
			out.Health = resp.GetStatus().String()
		}
	}
	client := extprocv3.NewExternalProcessorClient(conn)
	for _, r := range sc.Requests {
		out.Results = append(out.Results, run(client, r))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("output: %v", err)
	}
}

func run(client extprocv3.ExternalProcessorClient, r request) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := client.Process(ctx)
	if err != nil {
		return result{Error: err.Error()}
	}
	var res result
	// exchange sends one message and reads its one answer; false when the exchange is over.
	exchange := func(msg *extprocv3.ProcessingRequest) bool {
		if err := stream.Send(msg); err != nil {
			res.Error = "send: " + err.Error()
			return false
		}
		resp, err := stream.Recv()
		if err != nil {
			res.Error = "recv: " + err.Error()
			return false
		}
		raw, _ := protojson.Marshal(resp)
		res.Responses = append(res.Responses, raw)
		return resp.GetImmediateResponse() == nil
	}

	headers := &corev3.HeaderMap{}
	for k, v := range r.Headers {
		headers.Headers = append(headers.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	first := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headers, EndOfStream: r.Body == ""},
	}}
	if r.Subset != nil {
		list := make([]any, len(r.Subset))
		for i, s := range r.Subset {
			list[i] = s
		}
		hint, err := structpb.NewStruct(map[string]any{"x-gateway-destination-endpoint-subset": list})
		if err != nil {
			return result{Error: err.Error()}
		}
		first.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.lb.subset_hint": hint}}
	}
	if !exchange(first) {
		return finish(stream, res)
	}
	body := []byte(r.Body)
	chunks := max(r.Chunks, 1)
	size := (len(body) + chunks - 1) / chunks
	for i := 0; len(body) > 0 && i < chunks; i++ {
		end := min(len(body), (i+1)*size)
		start := min(end, i*size)
		last := end == len(body)
		if r.BreakAfterChunks > 0 && i == r.BreakAfterChunks {
			cancel()
			res.Broken = true
			return res
		}
		msg := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
			RequestBody: &extprocv3.HttpBody{Body: body[start:end], EndOfStream: last},
		}}
		if !exchange(msg) {
			return finish(stream, res)
		}
		if last {
			break
		}
	}
	if r.ResponsePhases {
		ok := exchange(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
			ResponseHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{}},
		}})
		if ok {
			exchange(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
				ResponseBody: &extprocv3.HttpBody{Body: []byte("data: [DONE]\n\n"), EndOfStream: true},
			}})
		}
	}
	return finish(stream, res)
}

// finish half-closes the stream and waits for the server to end it.
func finish(stream extprocv3.ExternalProcessor_ProcessClient, res result) result {
	if err := stream.CloseSend(); err != nil && res.Error == "" {
		res.Error = "close: " + err.Error()
	}
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			if res.Error == "" {
				res.Error = "end: " + err.Error()
			}
			return res
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "epp-client: "+format+"\n", args...)
	os.Exit(2)
}
