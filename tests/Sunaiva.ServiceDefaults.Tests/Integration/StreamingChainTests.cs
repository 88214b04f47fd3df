using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>Streaming chains on fake time: failover before the first chunk, position after it, metering, cancellation.</summary>
public sealed class StreamingChainTests
{
    private static readonly ProviderOperation Speak = new("speak", "characters");

    [Fact]
    public async Task Stream_stalled_before_its_first_chunk_fails_over_to_the_next_adapter()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Hang(), ["backup"] = s => s.Chunks("b1", "b2") };
        var stream = kernel.Chain.StreamAsync(Speak, script.Open, chunk => chunk.Length, CancellationToken.None);

        await using var reader = stream.GetAsyncEnumerator();
        var first = reader.MoveNextAsync();
        kernel.Time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(await first);
        Assert.Equal("b1", reader.Current);
        Assert.True(await reader.MoveNextAsync());
        Assert.False(await reader.MoveNextAsync());
        Assert.Equal(("backup", true, 2L, 4m), (stream.Provider, stream.Degraded, stream.ChunksDelivered, stream.UnitsDelivered));
        var calls = kernel.Meter.Calls;
        Assert.Equal([(CallOutcome.Timeout, CallErrors.FirstChunkDeadline), (CallOutcome.Fallback, null)], calls.Select(c => (c.Outcome, c.Error)));
        Assert.Equal((2L, 4m), (calls[1].Chunks, calls[1].Units));
    }

    [Fact]
    public async Task Stream_failing_or_meeting_an_open_circuit_before_its_first_chunk_is_served_by_the_next_adapter()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Fail(), ["backup"] = s => s.Chunks("b") };

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(["b"], await ReadAllAsync(kernel.Chain.StreamAsync(Speak, script.Open, CancellationToken.None)));
        }

        var whileOpen = kernel.Chain.StreamAsync(Speak, script.Open, CancellationToken.None);
        Assert.Equal(["b"], await ReadAllAsync(whileOpen));
        Assert.Equal(3, script.Opened("primary"));
        Assert.Equal([CallOutcome.CircuitOpen, CallOutcome.Fallback], whileOpen.Attempts.Select(a => a.Outcome));
    }

    [Fact]
    public async Task Stream_stalled_after_chunks_reached_the_caller_throws_with_the_provider_and_position()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Chunks("ab", "cd").ThenHang(), ["backup"] = s => s.Chunks("never") };
        var stream = kernel.Chain.StreamAsync(Speak, script.Open, chunk => chunk.Length, CancellationToken.None);

        await using var reader = stream.GetAsyncEnumerator();
        Assert.True(await reader.MoveNextAsync());
        Assert.True(await reader.MoveNextAsync());
        var third = reader.MoveNextAsync();
        kernel.Time.Advance(TimeSpan.FromSeconds(10));

        var error = await Assert.ThrowsAsync<StreamInterruptedException>(async () => await third);
        Assert.Equal(("echo", "primary", 2L, 4m, true), (error.Capability, error.Provider, error.ChunksDelivered, error.UnitsDelivered, error.Stalled));
        Assert.Equal(0, script.Opened("backup"));
        var call = Assert.Single(kernel.Meter.Calls);
        Assert.Equal((CallOutcome.Timeout, CallErrors.Stalled, 2L, 4m), (call.Outcome, call.Error, call.Chunks, call.Units));
    }

    [Fact]
    public async Task Stream_failing_after_its_first_chunk_throws_with_the_provider_error_and_position()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Chunks("abc").ThenFail(), ["backup"] = s => s.Chunks("never") };

        var error = await Assert.ThrowsAsync<StreamInterruptedException>(() => ReadAllAsync(kernel.Chain.StreamAsync(Speak, script.Open, c => c.Length, CancellationToken.None)));

        Assert.Equal(("primary", 1L, 3m, false), (error.Provider, error.ChunksDelivered, error.UnitsDelivered, error.Stalled));
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.Equal(0, script.Opened("backup"));
    }

    [Fact]
    public async Task Stream_meters_units_per_chunk_and_time_to_first_chunk()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.After(TimeSpan.FromMilliseconds(300)).Chunks("abc", "de") };
        var stream = kernel.Chain.StreamAsync(Speak, script.Open, chunk => chunk.Length, CancellationToken.None);

        await using var reader = stream.GetAsyncEnumerator();
        var first = reader.MoveNextAsync();
        kernel.Time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.True(await first);
        Assert.True(await reader.MoveNextAsync());
        Assert.False(await reader.MoveNextAsync());

        var call = Assert.Single(kernel.Meter.Calls);
        Assert.Equal((CallOutcome.Ok, "characters", 5m, 2L, TimeSpan.FromMilliseconds(300)), (call.Outcome, call.Unit, call.Units, call.Chunks, call.FirstChunk));
        Assert.Equal(("primary", false, TimeSpan.FromMilliseconds(300)), (stream.Provider, stream.Degraded, stream.TimeToFirstChunk));
    }

    [Fact]
    public async Task Stream_longer_than_the_attempt_timeout_is_not_cut_while_chunks_keep_coming()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Every(TimeSpan.FromSeconds(4), 8) };

        await using var reader = kernel.Chain.StreamAsync(Speak, script.Open, CancellationToken.None).GetAsyncEnumerator();
        var received = 0;
        while (true)
        {
            var next = reader.MoveNextAsync();
            kernel.Time.Advance(TimeSpan.FromSeconds(4));
            if (!await next)
            {
                break;
            }

            received++;
        }

        // 8 chunks over 32 s of fake time: three times the 10 s attempt timeout, each gap under the 10 s inter-chunk deadline.
        Assert.Equal(8, received);
        Assert.Equal(CallOutcome.Ok, Assert.Single(kernel.Meter.Calls).Outcome);
    }

    [Fact]
    public async Task Caller_cancelling_a_stream_is_not_a_provider_failure()
    {
        using var kernel = new KernelHost(Deadlines());
        var script = new Script(kernel.Time) { ["primary"] = s => s.Hang(), ["backup"] = s => s.Chunks("never") };
        using var caller = new CancellationTokenSource();

        await using var reader = kernel.Chain.StreamAsync(Speak, script.Open, caller.Token).GetAsyncEnumerator();
        var first = reader.MoveNextAsync();
        await caller.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await first);
        Assert.Equal(0, script.Opened("backup"));
        var health = kernel.Services.GetRequiredService<IntegrationRuntime>().Snapshot().Single(h => h.Provider == "primary");
        Assert.Equal(("closed", 0, 0d), (health.Circuit, health.Sampled, health.ErrorRate));
        Assert.Equal(CallErrors.Canceled, Assert.Single(kernel.Meter.Calls).Error);
    }

    [Fact]
    public void Chunk_deadlines_out_of_range_stop_the_service_at_start_and_name_the_key()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Capabilities:echo:FirstChunkDeadline"] = "00:00:00" });

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => kernel.Chain);

        Assert.Contains("Integration:Capabilities:echo", error.Message);
        Assert.Contains("FirstChunkDeadline", error.Message);
    }

    private static Dictionary<string, string?> Deadlines() => new()
    {
        ["Integration:Capabilities:echo:FirstChunkDeadline"] = "00:00:05",
        ["Integration:Capabilities:echo:InterChunkDeadline"] = "00:00:10",
    };

    private static async Task<List<string>> ReadAllAsync(IAsyncEnumerable<string> stream)
    {
        var chunks = new List<string>();
        await foreach (var chunk in stream)
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    /// <summary>What each provider's stream does, and how often it was opened.</summary>
    private sealed class Script(FakeTimeProvider time) : Dictionary<string, Func<StreamPlan, StreamPlan>>
    {
        private readonly Dictionary<string, int> _opened = [];

        public int Opened(string provider)
        {
            lock (_opened)
            {
                return _opened.GetValueOrDefault(provider);
            }
        }

        public IAsyncEnumerable<string> Open(IEcho adapter, ProviderCallContext context, CancellationToken cancellationToken)
        {
            lock (_opened)
            {
                _opened[adapter.Provider] = _opened.GetValueOrDefault(adapter.Provider) + 1;
            }

            return this[adapter.Provider](new StreamPlan(time)).RunAsync(cancellationToken);
        }
    }

    private sealed class StreamPlan(TimeProvider time)
    {
        private readonly List<Func<CancellationToken, IAsyncEnumerable<string>>> _steps = [];

        public StreamPlan Chunks(params string[] chunks) => Add(_ => chunks.ToAsyncEnumerable());

        public StreamPlan Hang() => Add(HangAsync);

        public StreamPlan ThenHang() => Hang();

        public StreamPlan Fail() => Add(FailAsync);

        public StreamPlan ThenFail() => Fail();

        public StreamPlan After(TimeSpan delay) => Add(ct => DelayAsync(delay, ct));

        public StreamPlan Every(TimeSpan gap, int count) => Add(ct => EveryAsync(gap, count, ct));

        public async IAsyncEnumerable<string> RunAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            foreach (var step in _steps)
            {
                await foreach (var chunk in step(cancellationToken).WithCancellation(cancellationToken))
                {
                    yield return chunk;
                }
            }
        }

        private StreamPlan Add(Func<CancellationToken, IAsyncEnumerable<string>> step)
        {
            _steps.Add(step);
            return this;
        }

        private static async IAsyncEnumerable<string> HangAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            yield break;
        }

        private static async IAsyncEnumerable<string> FailAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            throw new HttpRequestException("stream broke", null, System.Net.HttpStatusCode.BadGateway);
#pragma warning disable CS0162 // An iterator needs a yield; the throw above is the behaviour.
            yield break;
#pragma warning restore CS0162
        }

        private async IAsyncEnumerable<string> DelayAsync(TimeSpan delay, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Delay(delay, time, cancellationToken);
            yield break;
        }

        private async IAsyncEnumerable<string> EveryAsync(TimeSpan gap, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            for (var i = 0; i < count; i++)
            {
                await Task.Delay(gap, time, cancellationToken);
                yield return $"c{i}";
            }
        }
    }
}
