using Sunaiva.Billing;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddBillingServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapBillingApi();

await app.RunAsync();

/// <summary>Entry point, visible to the tests' web application factory.</summary>
public partial class Program;
