namespace Sunaiva.Voice.Pipeline;

/// <summary>The reply model (section <c>Voice:Reply</c>): OpenAI when a key is set, the built-in local responder otherwise.</summary>
public sealed class ReplyOptions
{
    public const string SectionName = "Voice:Reply";

    /// <summary>OpenAI API key (AppHost secret parameter); empty uses the local responder.</summary>
    public string? OpenAIApiKey { get; set; }

    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>An OpenAI-compatible endpoint; empty is api.openai.com.</summary>
    public Uri? Endpoint { get; set; }

    public string Instructions { get; set; } = "You are Sunaiva, a warm voice companion. Answer in one or two short spoken sentences, no lists or markup.";
}
