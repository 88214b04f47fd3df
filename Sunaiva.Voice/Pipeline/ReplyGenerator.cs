using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace Sunaiva.Voice.Pipeline;

/// <summary>
/// Streams the reply to a conversation sentence by sentence (the first one may end at a clause, so speech starts early),
/// from the configured <see cref="IChatClient"/>; when that model fails before its first words, the local responder answers.
/// </summary>
public sealed partial class ReplyGenerator(IChatClient chat, LocalResponder local, IOptions<ReplyOptions> options, ILogger<ReplyGenerator> logger)
{
    private const int FirstClauseMinLength = 12;

    public async IAsyncEnumerable<string> SentencesAsync(IReadOnlyList<ChatMessage> history, IReadOnlyList<string> hints, [EnumeratorCancellation] CancellationToken ct)
    {
        List<ChatMessage> messages = [new(ChatRole.System, options.Value.Instructions), .. hints.Select(h => new ChatMessage(ChatRole.System, h)), .. history];
        var updates = chat.GetStreamingResponseAsync(messages, cancellationToken: ct).GetAsyncEnumerator(ct);
        bool any;
        try
        {
            any = await updates.MoveNextAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException && !ReferenceEquals(chat, local))
        {
            LogModelFailed(logger, e.GetType().Name);
            await updates.DisposeAsync();
            updates = local.GetStreamingResponseAsync(messages, cancellationToken: ct).GetAsyncEnumerator(ct);
            any = await updates.MoveNextAsync();
        }

        await using (updates)
        {
            var buffer = new StringBuilder();
            var first = true;
            while (any)
            {
                buffer.Append(updates.Current.Text);
                while (Cut(buffer, first) is { } sentence)
                {
                    first = false;
                    yield return sentence;
                }

                any = await updates.MoveNextAsync();
            }

            var rest = buffer.ToString().Trim();
            if (rest.Length > 0)
            {
                yield return rest;
            }
        }
    }

    /// <summary>Takes the first complete sentence off the buffer (or, for the first, a clause of some length).</summary>
    internal static string? Cut(StringBuilder buffer, bool first)
    {
        for (var i = 0; i < buffer.Length - 1; i++)
        {
            var c = buffer[i];
            var end = c is '.' or '!' or '?' or ';' || (first && c is ',' or ':' && i >= FirstClauseMinLength);
            if (end && char.IsWhiteSpace(buffer[i + 1]))
            {
                var sentence = buffer.ToString(0, i + 1).Trim();
                buffer.Remove(0, i + 1);
                if (sentence.Length > 0)
                {
                    return sentence;
                }
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reply model failed ({Error}); the local responder answers")]
    private static partial void LogModelFailed(ILogger logger, string error);
}
