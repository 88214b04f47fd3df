using System.Collections.Concurrent;
using System.Globalization;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Sunaiva.Testing;

namespace Sunaiva.Bench.Trace;

/// <summary>One finished span as a service exported it.</summary>
internal sealed record SpanRecord(
    string Service,
    string Scope,
    string TraceId,
    string SpanId,
    string? ParentSpanId,
    string Name,
    int Kind,
    ulong StartNanos,
    ulong EndNanos,
    IReadOnlyDictionary<string, string> Attributes)
{
    public double DurationMs => (EndNanos - StartNanos) / 1e6;

    public string? Attribute(string key) => Attributes.GetValueOrDefault(key);
}

/// <summary>
/// A tiny OTLP/HTTP receiver (what the Aspire dashboard is to the services): <c>POST /v1/traces</c> in protobuf is decoded
/// and kept; logs and metrics are accepted and dropped.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SpanRecord> _spans = new();

    private OtlpReceiver(WebApplication app, string endpoint) => (_app, Endpoint) = (app, endpoint);

    /// <summary>Base address for <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>.</summary>
    public string Endpoint { get; }

    public IReadOnlyList<SpanRecord> Spans => [.. _spans];

    public IReadOnlyList<SpanRecord> Trace(string traceId) => _spans.Where(s => s.TraceId == traceId).ToList();

    public static async Task<OtlpReceiver> StartAsync()
    {
        var port = LocalServers.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, $"http://127.0.0.1:{port}");
        app.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            foreach (var span in Decode(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }

            return Results.Bytes([], "application/x-protobuf");
        });
        app.MapPost("/v1/{signal}", () => Results.Bytes([], "application/x-protobuf"));
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // opentelemetry/proto/collector/trace/v1: ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    internal static List<SpanRecord> Decode(byte[] request)
    {
        var spans = new List<SpanRecord>();
        foreach (var (field, resourceSpans) in Fields(request))
        {
            if (field != 1)
            {
                continue;
            }

            // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
            var service = "?";
            var scopes = new List<ByteString>();
            foreach (var (f, value) in Fields(resourceSpans))
            {
                if (f == 1)
                {
                    service = Attributes(value, attributesField: 1).GetValueOrDefault("service.name", "?");
                }
                else if (f == 2)
                {
                    scopes.Add(value);
                }
            }

            foreach (var scopeSpans in scopes)
            {
                // ScopeSpans { InstrumentationScope scope = 1 { string name = 1; }; repeated Span spans = 2; }
                var scope = string.Empty;
                var raw = new List<ByteString>();
                foreach (var (f, value) in Fields(scopeSpans))
                {
                    if (f == 1)
                    {
                        scope = Fields(value).Where(x => x.Field == 1).Select(x => x.Value.ToStringUtf8()).FirstOrDefault() ?? string.Empty;
                    }
                    else if (f == 2)
                    {
                        raw.Add(value);
                    }
                }

                spans.AddRange(raw.Select(s => ReadSpan(s, service, scope)));
            }
        }

        return spans;
    }

    // Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6;
    //        fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; }
    private static SpanRecord ReadSpan(ByteString bytes, string service, string scope)
    {
        string traceId = string.Empty, spanId = string.Empty, name = string.Empty;
        string? parent = null;
        var kind = 0;
        ulong start = 0, end = 0;
        var input = new CodedInputStream(bytes.ToByteArray());
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: traceId = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 2: spanId = Convert.ToHexStringLower(input.ReadBytes().Span); break;
                case 4:
                    var p = input.ReadBytes();
                    parent = p.Length == 0 ? null : Convert.ToHexStringLower(p.Span);
                    break;
                case 5: name = input.ReadString(); break;
                case 6: kind = input.ReadEnum(); break;
                case 7: start = input.ReadFixed64(); break;
                case 8: end = input.ReadFixed64(); break;
                case 9:
                    var (key, value) = KeyValue(input.ReadBytes());
                    attributes[key] = value;
                    break;
                default: input.SkipLastField(); break;
            }
        }

        return new SpanRecord(service, scope, traceId, spanId, parent, name, kind, start, end, attributes);
    }

    private static Dictionary<string, string> Attributes(ByteString message, int attributesField)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (f, value) in Fields(message))
        {
            if (f == attributesField)
            {
                var (k, v) = KeyValue(value);
                attributes[k] = v;
            }
        }

        return attributes;
    }

    // KeyValue { string key = 1; AnyValue value = 2 { string = 1; bool = 2; int64 = 3; double = 4; ... } }
    private static (string Key, string Value) KeyValue(ByteString bytes)
    {
        var key = string.Empty;
        var value = string.Empty;
        var input = new CodedInputStream(bytes.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    key = input.ReadString();
                    break;
                case 2:
                    var any = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint anyTag;
                    while ((anyTag = any.ReadTag()) != 0)
                    {
                        value = WireFormat.GetTagFieldNumber(anyTag) switch
                        {
                            1 => any.ReadString(),
                            2 => any.ReadBool() ? "true" : "false",
                            3 => any.ReadInt64().ToString(CultureInfo.InvariantCulture),
                            4 => any.ReadDouble().ToString(CultureInfo.InvariantCulture),
                            _ => Skip(any),
                        };
                    }

                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return (key, value);
    }

    private static string Skip(CodedInputStream input)
    {
        input.SkipLastField();
        return "(complex)";
    }

    /// <summary>The length-delimited fields of a message (the only wire type the containers above use); others are skipped.</summary>
    private static List<(int Field, ByteString Value)> Fields(ByteString message) => Fields(message.ToByteArray());

    private static List<(int Field, ByteString Value)> Fields(byte[] message)
    {
        var input = new CodedInputStream(message);
        var fields = new List<(int Field, ByteString Value)>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                fields.Add((WireFormat.GetTagFieldNumber(tag), input.ReadBytes()));
            }
            else
            {
                input.SkipLastField();
            }
        }

        return fields;
    }
}
