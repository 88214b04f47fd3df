using Sunaiva.Voice;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddVoiceServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapVoiceApi();

await app.RunAsync();

/// <summary>Entry point, visible to the tests' web application factory.</summary>
public partial class Program;
