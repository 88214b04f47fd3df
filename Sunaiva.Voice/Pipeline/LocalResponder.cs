using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Sunaiva.Voice.Pipeline;

/// <summary>
/// The built-in reply model used when no cloud model is configured: a short, sensible answer to common companion
/// requests (greetings, how are you, time, name, help, thanks, goodbye), otherwise an acknowledgement that keeps the
/// conversation going. Streams clause by clause so speech can start on the first one.
/// </summary>
public sealed class LocalResponder(TimeProvider time) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer(messages))));

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var answer = Answer(messages);
        var start = 0;
        for (var i = 0; i < answer.Length; i++)
        {
            if (answer[i] is '.' or '!' or '?' or ',' && (i + 1 == answer.Length || answer[i + 1] == ' '))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new ChatResponseUpdate(ChatRole.Assistant, answer[start..(i + 1)]);
                start = i + 1;
            }
        }

        if (start < answer.Length)
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, answer[start..]);
        }

        await Task.CompletedTask;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    internal string Answer(IEnumerable<ChatMessage> messages)
    {
        var list = messages.ToList();
        var said = list.LastOrDefault(m => m.Role == ChatRole.User)?.Text?.Trim() ?? string.Empty;
        var hint = string.Join(' ', list.Where(m => m.Role == ChatRole.System).Select(m => m.Text)).ToLowerInvariant();
        var text = $" {said.ToLowerInvariant().Replace("?", " ", StringComparison.Ordinal).Replace(",", " ", StringComparison.Ordinal).Replace(".", " ", StringComparison.Ordinal)} ";
        bool Has(params string[] words) => words.Any(w => text.Contains($" {w} ", StringComparison.Ordinal));

        var comfort = hint.Contains("sad", StringComparison.Ordinal) || hint.Contains("anxious", StringComparison.Ordinal) ? "I'm here with you. " : string.Empty;
        if (said.Length == 0)
        {
            return "Sorry, I didn't catch that.";
        }

        if (Has("bye", "goodbye", "good night"))
        {
            return "Goodbye! It was nice talking with you.";
        }

        if (Has("thanks", "thank"))
        {
            return "You're welcome! Anything else?";
        }

        if (Has("time") && Has("what"))
        {
            return $"{comfort}It's {time.GetUtcNow():HH:mm} UTC.";
        }

        if (Has("weather"))
        {
            return $"{comfort}I can't check the weather from here, but I hope it's a nice day where you are.";
        }

        if (Has("your") && Has("name"))
        {
            return "I'm Sunaiva, your companion. What should I call you?";
        }

        if (Has("how") && Has("are") && Has("you"))
        {
            return $"{comfort}I'm doing well, thanks for asking! How are you?";
        }

        if (Has("hello", "hi", "hey", "morning", "afternoon", "evening"))
        {
            return $"{comfort}Hello! How can I help you today?";
        }

        if (Has("help", "can", "could", "would"))
        {
            return $"{comfort}Sure, I can help with that. Tell me a little more.";
        }

        var words = said.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var echo = string.Join(' ', words.Take(8));
        return $"{comfort}I hear you, {echo}. Tell me more.";
    }
}
