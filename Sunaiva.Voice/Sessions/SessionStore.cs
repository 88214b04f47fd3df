using System.Text.Json;
using StackExchange.Redis;

namespace Sunaiva.Voice.Sessions;

/// <summary>A voice session as stored: whose it is, its voice and how it was asked to connect.</summary>
public sealed record VoiceSessionInfo(string Id, string UserId, string VoiceId, string Mode, DateTimeOffset CreatedAt);

/// <summary>One line of a session's conversation.</summary>
public sealed record HistoryEntry(string Role, string Text, int Turn);

/// <summary>
/// Session state in Redis, so a socket can drop and the session resume (here or on another instance) without losing
/// context: the session, its sequenced events (replayed after the client's last seen seq), its conversation history,
/// the client turn ids already taken (a resent turn is not answered twice) and when its socket dropped.
/// Keys share the session's hash tag and expire an hour after the last write.
/// </summary>
public sealed class SessionStore(IConnectionMultiplexer redis, TimeProvider time)
{
    private static readonly TimeSpan Ttl = TimeSpan.FromHours(1);

    private static string Key(string id) => $"voice:session:{{{id}}}";

    private IDatabase Db => redis.GetDatabase();

    public async Task CreateAsync(VoiceSessionInfo session)
    {
        var key = Key(session.Id);
        await Db.HashSetAsync(key,
        [
            new("user", session.UserId), new("voice", session.VoiceId), new("mode", session.Mode),
            new("created", session.CreatedAt.ToUnixTimeMilliseconds()), new("seq", 0), new("turns", 0),
        ]);
        await Db.KeyExpireAsync(key, Ttl);
    }

    public async Task<VoiceSessionInfo?> GetAsync(string id)
    {
        var values = await Db.HashGetAsync(Key(id), ["user", "voice", "mode", "created"]);
        if (values[0].IsNull)
        {
            return null;
        }

        return new VoiceSessionInfo(id, values[0]!, values[1]!, values[2]!, DateTimeOffset.FromUnixTimeMilliseconds((long)values[3]));
    }

    public async Task<(long Seq, int Turns, DateTimeOffset? DisconnectedAt)> StateAsync(string id)
    {
        var values = await Db.HashGetAsync(Key(id), ["seq", "turns", "disconnected"]);
        return ((long)values[0], (int)values[1], values[2].IsNull ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)values[2]));
    }

    /// <summary>Stores an event under its sequence number (the caller, the session's one runtime, assigns them in order).</summary>
    public Task AppendEventAsync(string id, long seq, string json)
    {
        var key = Key(id);
        var batch = Db.CreateBatch();
        var a = batch.SortedSetAddAsync(key + ":events", json, seq);
        var b = batch.HashSetAsync(key, "seq", seq);
        var c = batch.KeyExpireAsync(key + ":events", Ttl);
        var d = batch.KeyExpireAsync(key, Ttl);
        batch.Execute();
        return Task.WhenAll(a, b, c, d);
    }

    /// <summary>Stores several sequenced events in one round trip (a confirmed speculative turn's held events).</summary>
    public Task AppendEventsAsync(string id, IReadOnlyList<(long Seq, string Json)> events)
    {
        if (events.Count == 0)
        {
            return Task.CompletedTask;
        }

        var key = Key(id);
        var batch = Db.CreateBatch();
        var a = batch.SortedSetAddAsync(key + ":events", [.. events.Select(e => new SortedSetEntry(e.Json, e.Seq))]);
        var b = batch.HashSetAsync(key, "seq", events.Max(e => e.Seq));
        var c = batch.KeyExpireAsync(key + ":events", Ttl);
        var d = batch.KeyExpireAsync(key, Ttl);
        batch.Execute();
        return Task.WhenAll(a, b, c, d);
    }

    public async Task<string[]> EventsAfterAsync(string id, long seq)
    {
        var values = await Db.SortedSetRangeByScoreAsync(Key(id) + ":events", seq, double.PositiveInfinity, Exclude.Start);
        return [.. values.Select(v => (string)v!)];
    }

    public async Task<int> NextTurnAsync(string id) => (int)await Db.HashIncrementAsync(Key(id), "turns");

    public async Task AddHistoryAsync(string id, HistoryEntry entry)
    {
        var key = Key(id) + ":history";
        await Db.ListRightPushAsync(key, JsonSerializer.Serialize(entry));
        await Db.KeyExpireAsync(key, Ttl);
    }

    public async Task<IReadOnlyList<HistoryEntry>> HistoryAsync(string id, int last)
    {
        var values = await Db.ListRangeAsync(Key(id) + ":history", -last, -1);
        return [.. values.Select(v => JsonSerializer.Deserialize<HistoryEntry>((string)v!)!)];
    }

    /// <summary>True the first time a client turn id is seen in this session.</summary>
    public async Task<bool> ClaimClientTurnAsync(string id, string clientTurnId)
    {
        var key = Key(id) + ":client-turns";
        var added = await Db.SetAddAsync(key, clientTurnId);
        await Db.KeyExpireAsync(key, Ttl);
        return added;
    }

    public Task MarkDisconnectedAsync(string id, bool disconnected) => disconnected
        ? Db.HashSetAsync(Key(id), "disconnected", time.GetUtcNow().ToUnixTimeMilliseconds())
        : Db.HashDeleteAsync(Key(id), "disconnected");
}
