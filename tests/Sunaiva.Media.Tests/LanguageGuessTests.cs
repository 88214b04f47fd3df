using Sunaiva.Media.Extraction;

namespace Sunaiva.Media.Tests;

/// <summary>The text search configuration a file's text is indexed in, from the function words it holds.</summary>
public sealed class LanguageGuessTests
{
    [Theory]
    [InlineData("A note about pangolins and quokkas, checked by hand.", "english")]
    [InlineData("Eine Notiz über Pangoline und Quokkas.", "german")]
    [InlineData("Rendez-vous avec le notaire lundi matin.", "french")]
    [InlineData("The children were running to the river and it was the best day of the summer.", "english")]
    [InlineData("Les enfants mangeaient des pommes dans le jardin et ils étaient contents pour la journée.", "french")]
    public void A_text_is_indexed_in_the_language_its_function_words_name_even_when_it_is_a_short_note(string text, string expected) =>
        Assert.Equal(expected, LanguageGuess.For(text));

    [Theory]
    [InlineData("Meeting mit Anna and Bob tomorrow.")] // one marker each of German and English
    [InlineData("quokkas pangolins wombats")] // no function word
    [InlineData("and quokkas")] // too short to tell
    [InlineData("Quokkas, pangolins, wombats, numbats, bilbies, potoroos, dunnarts, dibblers, kowaris, mulgaras, ningauis, planigales, antechinuses, bettongs, bandicoots, possums, gliders, wallabies and quolls.")] // one marker in twenty words
    public void A_text_without_a_clear_language_is_indexed_unstemmed(string text) =>
        Assert.Equal("simple", LanguageGuess.For(text));
}
