using Dapper;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using Sunaiva.Messaging.Work;
using Sunaiva.Integration;
using Sunaiva.Testing;

namespace Sunaiva.Messaging.Tests;

/// <summary>The durable work runner against real Postgres, on fake time.</summary>
[Collection(ServersCollection.Name)]
public sealed class WorkRunnerTests(LocalServers servers) : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero));
    private ConnectionMultiplexer _redis = null!;
    private MessagingHarness _h = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(servers.RedisConnectionString);
        _h = await MessagingHarness.CreateAsync(servers, _redis, _time, new WorkOptions
        {
            Default = new WorkPolicy { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromMinutes(5) },
        });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Failing_item_backs_off_and_is_dead_lettered_alone_while_the_others_complete_and_replay_finishes_it()
    {
        var work = new RecordingWork("test.job") { FailWith = i => i.Key == "bad" ? new InvalidOperationException("boom") : null };
        var runner = _h.Runner(work);
        await _h.Queue.EnqueueAsync([new NewWork("test.job", "good-1", "{}"), new NewWork("test.job", "bad", "{}"), new NewWork("test.job", "good-2", "{}")], default);

        await MessagingHarness.DrainAsync(runner);
        Assert.Equal(["good-1", "good-2"], work.Handled.Order());
        Assert.Equal(("pending", 1, _time.GetUtcNow().UtcDateTime.AddSeconds(10)), await StateAsync("bad"));

        _time.Advance(TimeSpan.FromSeconds(10));
        await MessagingHarness.DrainAsync(runner);
        Assert.Equal(("pending", 2, _time.GetUtcNow().UtcDateTime.AddSeconds(20)), await StateAsync("bad"));

        _time.Advance(TimeSpan.FromSeconds(20));
        await MessagingHarness.DrainAsync(runner);
        Assert.Equal("dead", (await StateAsync("bad")).Status);
        var dead = Assert.Single(await _h.Queue.ListDeadAsync("test.", 10, default));
        Assert.Equal("bad", dead.Key);
        Assert.Contains("boom", dead.LastError, StringComparison.Ordinal);

        work.FailWith = _ => null;
        Assert.Equal(1, await _h.Queue.ReplayAsync("test.job", null, default));
        await MessagingHarness.DrainAsync(runner);
        Assert.Equal("done", (await StateAsync("bad")).Status);
        Assert.Equal(3, work.Handled.Count);
    }

    [Fact]
    public async Task Permanent_failure_dead_letters_that_item_at_once_and_an_open_circuit_delays_others_without_spending_attempts()
    {
        var circuitOpen = true;
        var work = new RecordingWork("mail.send")
        {
            FailWith = i => i.Key.StartsWith("refused", StringComparison.Ordinal)
                ? new PermanentWorkFailureException("recipient refused")
                : circuitOpen ? OpenCircuit(TimeSpan.FromSeconds(30)) : null,
        };
        var runner = _h.Runner(work);
        var keys = Enumerable.Range(0, 8).Select(i => $"refused-{i}").Concat(Enumerable.Range(0, 3).Select(i => $"healthy-{i}")).ToList();
        await _h.Queue.EnqueueAsync(keys.Select(k => new NewWork("mail.send", k, "{}")).ToList(), default);

        await MessagingHarness.DrainAsync(runner);
        foreach (var key in keys.Where(k => k.StartsWith("refused", StringComparison.Ordinal)))
        {
            Assert.Equal(("dead", 1), ((await StateAsync(key)).Status, (await StateAsync(key)).Attempts));
        }

        // Far more deferrals than MaxAttempts (3): an open circuit never spends the healthy messages' attempts.
        for (var i = 0; i < 12; i++)
        {
            foreach (var key in keys.Where(k => k.StartsWith("healthy", StringComparison.Ordinal)))
            {
                Assert.Equal(("pending", 0, _time.GetUtcNow().UtcDateTime.AddSeconds(30)), await StateAsync(key));
            }

            _time.Advance(TimeSpan.FromSeconds(30));
            await MessagingHarness.DrainAsync(runner);
        }

        circuitOpen = false;
        _time.Advance(TimeSpan.FromSeconds(30));
        await MessagingHarness.DrainAsync(runner);
        Assert.Equal(["healthy-0", "healthy-1", "healthy-2"], work.Handled.Order());
    }

    [Fact]
    public async Task Item_of_a_crashed_worker_is_taken_over_after_its_lease_and_finished_once()
    {
        var work = new RecordingWork("render");
        await _h.Queue.EnqueueAsync(new NewWork("render", "video-1", "{}"), default);
        // A replica claims it, then dies without a word.
        Assert.Single(await _h.Store.ClaimAsync("dead-replica", 10, TimeSpan.FromSeconds(30), default));

        var survivor = _h.Runner(work);
        Assert.Equal(0, await survivor.RunDueOnceAsync(default));
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await survivor.RunDueOnceAsync(default));

        Assert.Equal(["video-1"], work.Handled);
        Assert.Equal(("done", 2), ((await StateAsync("video-1")).Status, (await StateAsync("video-1")).Attempts));
    }

    [Fact]
    public async Task Effect_committed_after_the_lease_was_lost_is_rolled_back()
    {
        var handler = new LeaseStealingWork(_h);
        var runner = _h.Runner(handler);
        await _h.Queue.EnqueueAsync(new NewWork("steal", "item-1", "{}"), default);

        await runner.RunDueOnceAsync(default);

        Assert.Equal(0L, await _h.ScalarAsync<long>("SELECT count(*) FROM handled"));
        Assert.Equal("pending", (await StateAsync("item-1")).Status);
    }

    [Fact]
    public async Task Items_of_one_partition_never_run_at_the_same_time_while_partitions_run_in_parallel()
    {
        var work = new ConcurrencyProbe();
        var runner = _h.Runner(work);
        var items = Enumerable.Range(0, 24).Select(i => new NewWork("probe", $"p{i % 3}-{i}", "{}", PartitionKey: $"customer-{i % 3}")).ToList();
        await _h.Queue.EnqueueAsync(items, default);

        // Two runners (two replicas) racing over the same items.
        var other = _h.Runner(work);
        await Task.WhenAll(MessagingHarness.DrainAsync(runner), MessagingHarness.DrainAsync(other));
        while (await _h.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE status = 'pending'") > 0)
        {
            await Task.WhenAll(MessagingHarness.DrainAsync(runner), MessagingHarness.DrainAsync(other));
        }

        Assert.Equal(24, work.Completed);
        Assert.Equal(1, work.MaxPerPartition);
        Assert.True(work.MaxOverall > 1, "different partitions ran one at a time");
        Assert.Equal(0L, await _h.ScalarAsync<long>("SELECT count(*) FROM work_partitions"));
    }

    [Fact]
    public async Task A_runner_whose_every_slot_is_busy_waits_for_a_slot_to_free_and_then_takes_the_next_item()
    {
        // The runner's timed waits on the service clock are seen here: a loop that spins while its slots are busy never
        // makes one, while it burns a core until an item finishes.
        var pollInterval = TimeSpan.FromMilliseconds(777);
        var time = new TimerCountingTime(_time, pollInterval);
        var h = await MessagingHarness.CreateAsync(servers, _redis, time, new WorkOptions { Concurrency = 2, PollInterval = pollInterval });
        await using var _ = h;
        var work = new GatedWork();
        await h.Queue.EnqueueAsync([new NewWork("gated", "a", "{}"), new NewWork("gated", "b", "{}"), new NewWork("gated", "c", "{}")], default);
        var runner = h.Runner(work);
        await runner.StartAsync(default);
        try
        {
            await Eventually.UntilAsync(() => Task.FromResult(work.Entered == 2), "both slots taken");
            await Eventually.UntilAsync(() => Task.FromResult(time.PollWaits > 0), "the runner waiting on its poll interval while both slots are busy");
            Assert.Equal(2, work.Entered); // the third item waits for a slot

            work.Release();
            await Eventually.UntilAsync(async () => await h.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE status = 'done'") == 3, "all three items done");
            Assert.Equal(3, work.Entered);
        }
        finally
        {
            work.Release();
            await runner.StopAsync(default);
        }
    }

    private async Task<(string Status, int Attempts, DateTime RunAt)> StateAsync(string key)
    {
        await using var connection = await _h.Data.OpenConnectionAsync();
        return await connection.QuerySingleAsync<(string, int, DateTime)>("SELECT status, attempts, run_at FROM work_items WHERE key = @key", new { key });
    }

    private static ProviderChainException OpenCircuit(TimeSpan retryAfter) =>
        new("email-delivery", false, [new ChainAttempt("smtp-local", CallOutcome.CircuitOpen, TimeSpan.Zero, "circuit open")], retryAfter, null, unavailable: true);

    /// <summary>Lets another replica take the lease just before committing its effect.</summary>
    private sealed class LeaseStealingWork(MessagingHarness h) : IWorkHandler
    {
        public string Kind => "steal";

        public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
        {
            await using (var connection = await h.Data.OpenConnectionAsync(cancellationToken))
            {
                await connection.ExecuteAsync("UPDATE work_items SET lease_owner = 'thief' WHERE id = @id", new { id = context.Item.Id });
            }

            await context.CommitAsync((c, tx, ct) => c.ExecuteAsync(new CommandDefinition("INSERT INTO handled (event_id) VALUES ('x')", transaction: tx, cancellationToken: ct)), cancellationToken);
        }
    }

    /// <summary>Counts how many items run at once, per partition and overall.</summary>
    private sealed class ConcurrencyProbe : IWorkHandler
    {
        private readonly Dictionary<string, int> _running = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();
        private int _overall;

        public string Kind => "probe";

        public int MaxPerPartition { get; private set; }

        public int MaxOverall { get; private set; }

        public int Completed { get; private set; }

        public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
        {
            var partition = context.Item.PartitionKey!;
            lock (_lock)
            {
                _running[partition] = _running.GetValueOrDefault(partition) + 1;
                _overall++;
                MaxPerPartition = Math.Max(MaxPerPartition, _running[partition]);
                MaxOverall = Math.Max(MaxOverall, _overall);
            }

            await Task.Delay(20, cancellationToken);
            lock (_lock)
            {
                _running[partition]--;
                _overall--;
                Completed++;
            }
        }
    }

    /// <summary>Holds every item at a gate until released.</summary>
    private sealed class GatedWork : IWorkHandler
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _entered;

        public string Kind => "gated";

        public int Entered => Volatile.Read(ref _entered);

        public void Release() => _gate.TrySetResult();

        public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _entered);
            await _gate.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>The fake clock, counting the timers made for waits of one length.</summary>
    private sealed class TimerCountingTime(FakeTimeProvider inner, TimeSpan counted) : TimeProvider
    {
        private int _count;

        public int PollWaits => Volatile.Read(ref _count);

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime == counted)
            {
                Interlocked.Increment(ref _count);
            }

            return inner.CreateTimer(callback, state, dueTime, period);
        }
    }
}
