using Dapper;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Preferences;

public sealed class PreferenceStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    public async Task<VoicePreference?> GetAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<VoicePreference>(new CommandDefinition(
            "SELECT voice_id AS voiceid, language, updated_at AS updatedat FROM voice_preferences WHERE user_id = @userId",
            new { userId }, cancellationToken: ct));
    }

    public async Task<VoicePreference> UpsertAsync(string userId, string voiceId, string language, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await UpsertAsync(connection, null, userId, voiceId, language, overwrite: true, ct);
    }

    internal async Task<VoicePreference> UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, string voiceId, string language, bool overwrite, CancellationToken ct)
    {
        var sql = overwrite
            ? """
              INSERT INTO voice_preferences (user_id, voice_id, language, updated_at) VALUES (@userId, @voiceId, @language, @at)
              ON CONFLICT (user_id) DO UPDATE SET voice_id = excluded.voice_id, language = excluded.language, updated_at = excluded.updated_at
              RETURNING voice_id AS voiceid, language, updated_at AS updatedat
              """
            : """
              INSERT INTO voice_preferences (user_id, voice_id, language, updated_at) VALUES (@userId, @voiceId, @language, @at)
              ON CONFLICT (user_id) DO UPDATE SET user_id = voice_preferences.user_id
              RETURNING voice_id AS voiceid, language, updated_at AS updatedat
              """;
        return await connection.QuerySingleAsync<VoicePreference>(new CommandDefinition(
            sql, new { userId, voiceId, language, at = time.GetUtcNow() }, tx, cancellationToken: ct));
    }
}

/// <summary>Takes the voice a user chose at signup as their starting preference (a later choice wins).</summary>
public sealed class SignupPreferenceHandler(PreferenceStore store, VoiceCatalog catalog) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        // Engagement validated the signup; a voice that still does not fit (or is not in the catalog) is skipped, not stored.
        if (!Sunaiva.Contracts.InputRules.IsVoiceId(user.Voice) || catalog.Find(user.Voice!) is null)
        {
            return;
        }

        var language = Sunaiva.Contracts.InputRules.IsLanguageTag(user.Language) ? user.Language! : Sunaiva.Contracts.InputRules.LanguageOfVoice(user.Voice!);
        await store.UpsertAsync(connection, transaction, user.Id, user.Voice!, language, overwrite: false, cancellationToken);
    }
}
